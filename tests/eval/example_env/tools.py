"""Library tools in the tau-bench shape: plain functions whose first argument is the database.

Errors come back as text starting with ``Error:``, as tau-bench's tools do.
"""

from __future__ import annotations

from typing import Any


def get_member(data: dict[str, Any], member_id: str) -> dict[str, Any]:
    """A library member's name, current loans and loan limit.

    Args:
        member_id: Member id like M1.
    """
    member = data["members"].get(member_id)
    if member is None:
        return {"error": f"No member {member_id}"}
    return {"member_id": member_id, **member}


def search_books(data: dict[str, Any], query: str) -> list[dict[str, Any]]:
    """Books whose title or author contains the query, with the copies on the shelf.

    Args:
        query: Words of the title or the author.
    """
    q = query.lower()
    return [
        {"book_id": book_id, **book}
        for book_id, book in data["books"].items()
        if q in book["title"].lower() or q in book["author"].lower()
    ]


def borrow_book(data: dict[str, Any], member_id: str, book_id: str) -> str:
    """Lend a book to a member.

    Args:
        member_id: Member id like M1.
        book_id: Book id like B1, from search_books.
    """
    member, book = data["members"].get(member_id), data["books"].get(book_id)
    if member is None or book is None:
        return "Error: unknown member or book"
    if len(member["loans"]) >= member["max_loans"]:
        return f"Error: {member_id} is at the loan limit of {member['max_loans']} books"
    if book["copies"] < 1:
        return f"Error: no copy of {book['title']} is on the shelf"
    book["copies"] -= 1
    member["loans"].append(book_id)
    return f"Lent {book['title']} ({book_id}) to {member['name']}"


def return_book(data: dict[str, Any], member_id: str, book_id: str) -> str:
    """Take a book back from a member.

    Args:
        member_id: Member id like M2.
        book_id: Book id like B3.
    """
    member, book = data["members"].get(member_id), data["books"].get(book_id)
    if member is None or book is None or book_id not in member["loans"]:
        return "Error: that member has no such loan"
    member["loans"].remove(book_id)
    book["copies"] += 1
    return f"{book['title']} ({book_id}) is returned"
