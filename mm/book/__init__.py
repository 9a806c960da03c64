"""Order books: the numba L2 book (:mod:`mm.book.l2`)."""

from mm.book.l2 import BookStatus, L2Book

__all__ = ["BookStatus", "L2Book"]
