"""The clearinghouse: X12 with payers through a drop folder (DOMAIN.md §2 steps 4-5).

A 270 eligibility inquiry and a 278 prior-authorisation request are written for a case;
the payer's 271 and 278 answers are read back into the eligibility result and the
authorisation decision. Files go through an exchange (a folder pair today; the
:class:`careloop.clearinghouse.exchange.Exchange` protocol is the seam for a real-time
HTTP connection), and every file exchanged is a row with its control numbers, so an
answer read twice changes nothing the second time.
"""
