"""What a village meeting (bình xét) says about a case: the vote on its household at the
meeting of its village in its round (read by the workflow's check and the case's pages)."""

from __future__ import annotations

from sqlalchemy import and_, select

from htsd_workflow.cases.models import Case, Round, VillageMeeting, VillageMeetingVote
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject


def meeting_votes(case_ids) -> dict[int, dict]:
    """Case id -> the vote on its household (``held_on``, ``votes_for``, ``present``,
    ``attendance``, ``meeting_id``) for the cases whose village met in their round."""
    ids = list(case_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Case.id,
            VillageMeeting.id,
            VillageMeeting.held_on,
            VillageMeeting.attendance,
            VillageMeetingVote.votes_for,
            VillageMeetingVote.present,
        )
        .select_from(Case)
        .join(Subject, Subject.id == Case.subject_id)
        .join(Round, and_(Round.title == Case.title, Round.year == Case.year))
        .join(
            VillageMeeting,
            and_(
                VillageMeeting.village_id == Subject.community_id,
                VillageMeeting.round_id == Round.id,
            ),
        )
        .join(
            VillageMeetingVote,
            and_(
                VillageMeetingVote.meeting_id == VillageMeeting.id,
                VillageMeetingVote.subject_id == Case.subject_id,
            ),
        )
        .where(Case.id.in_(ids))
    ).all()
    return {
        case_id: {
            "meeting_id": meeting_id,
            "held_on": held_on,
            "attendance": attendance,
            "votes_for": votes_for,
            "present": present,
        }
        for case_id, meeting_id, held_on, attendance, votes_for, present in rows
    }
