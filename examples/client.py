"""A small REST client: dependent requests chained in callbacks, the rest in parallel.

The blog API of the local server has users, and posts per user. To list every user's
posts we need the user ids first: the callback of ``GET /api/users`` starts one
``GET /api/users/ID/posts`` per user as soon as the list arrives (a callback may make
requests). Meanwhile, independent requests (product prices here) run in parallel.
Creating a post then reading it back is another chain: POST, then GET its Location.

Run: python examples/client.py
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import asynchttp
from asynchttp._demo import DemoServer


def decode(promise: asynchttp.Promise) -> None:
    if promise.exception is None and promise.response.status < 400:
        promise.content = json.loads(promise.content)


class BlogClient:
    """Each method returns (response, content) promises at once; content is decoded JSON."""

    def __init__(self, http: asynchttp.Http, base: str) -> None:
        self.http = http
        self.base = base

    def get(self, path: str, callback: Any = decode) -> tuple[Any, Any]:
        return self.http.request(urljoin(self.base, path), callback=callback)

    def users_with_posts(self) -> tuple[Any, Any]:
        """The users, each with the promise of their posts: [(user, posts promise), ...]."""

        def fetch_posts(promise: asynchttp.Promise) -> None:
            decode(promise)
            if promise.exception is None:
                # dependent requests: they need the ids, and start the moment they are known
                promise.content = [(user, self.get("/api/users/%d/posts" % user["id"])[1]) for user in promise.content]

        return self.get("/api/users", callback=fetch_posts)

    def create_post(self, user_id: int, title: str) -> tuple[Any, Any]:
        """POST a post, then (chained) GET it back from the Location the server gave."""

        def read_back(promise: asynchttp.Promise) -> None:
            if promise.exception is None and promise.response.status == 201:
                location = urljoin(self.base, promise.response["location"])
                response, content = self.http.request(location)
                # a callback may wait for a request of its own
                promise.content = json.loads(content) if response.status == 200 else None

        body = json.dumps({"user_id": user_id, "title": title})
        return self.http.request(
            urljoin(self.base, "/api/posts"),
            "POST",
            body=body,
            headers={"content-type": "application/json"},
            callback=read_back,
        )


def main() -> None:
    with DemoServer(lifetime=60) as server, asynchttp.Http(max_workers=4) as http:
        blog = BlogClient(http, server.url("/"))
        _, users = blog.users_with_posts()
        prices = [blog.get("/json?id=%d" % n)[1] for n in (1, 2, 3)]  # independent: in parallel

        for user, posts in users:
            print("%-8s %s" % (user["name"], ", ".join(post["title"] for post in posts)))
        print("prices:", ", ".join("%.2f" % item["price"] for item in prices))

        response, post = blog.create_post(1, "hello from the example")
        print("created (%d): post %d by user %d: %s" % (response.status, post["id"], post["user_id"], post["title"]))


if __name__ == "__main__":
    main()
