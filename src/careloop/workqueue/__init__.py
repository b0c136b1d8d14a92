"""Work queue: what needs a person now, one case per row, most urgent first.

The workqueue domain owns ``work_items`` (its only writer). An item exists while a case
(or something without a case yet) needs a person, and ends only when the work is done,
whatever its clocks say (DESIGN.md §3). Items follow domain events:

- ``referral.status_changed`` (session, clock, referral_id, status, referral, new):
  published by the referral domain wherever it writes a status; ``rules.needed_work``
  says what the new status calls for.
- ``referral.received_many`` (session, clock, cases: list of ``referral.moves
  .ReceivedCase``): a bulk intake's new cases; their first items in one INSERT.
- ``work.needed`` (session, clock, referral_id: int | None, kind: str, team: str,
  due_at: datetime, subject: str, title: str): any lower domain asks for a person. It
  opens the item for ``subject`` (e.g. ``"offer:7"``, ``"contact:3"``; unique among open
  items) or, if one is open, updates its due time and title.
- ``work.done`` (session, clock, subject: str): closes the open item for ``subject``.

Closing or cancelling a case closes every open item of it. The worker
(``service.climb_due``) raises past-due items up the escalation ladder: the supervisor's
queue at once (level 2), the operations manager's a window later (level 3).

Importing the package subscribes the handlers (``service``).
"""

from careloop.workqueue import service as service

__all__ = ["service"]
