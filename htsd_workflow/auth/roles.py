"""Role codes, the level each works at, and the Vietnamese names shown to people."""

from __future__ import annotations

ROLES = (
    "applicant",
    "village_head",
    "commune_reviewer",
    "district_reviewer",
    "education_reviewer",
    "culture_reviewer",
    "province_officer",
    "manager",
    "admin",
)

#: the administrative level whose unit code a user of the role must be bound to
ROLE_LEVEL = {
    "commune_reviewer": "commune",
    "district_reviewer": "district",
    "education_reviewer": "province",
    "culture_reviewer": "province",
    "province_officer": "province",
    "manager": ("province", "district"),
    "admin": ("province",),
}

#: the provincial department each sign-off role signs for
DEPARTMENT_OF_ROLE = {"education_reviewer": "education", "culture_reviewer": "culture"}

#: the roles that work a reviewing stage of a case (the queue shows them their own stages)
REVIEWER_ROLES = ("commune_reviewer", "district_reviewer", "education_reviewer", "culture_reviewer")

#: the provincial departments' sign-off roles
DEPARTMENT_ROLES = tuple(DEPARTMENT_OF_ROLE)

#: roles bound to a subject rather than to an administrative unit: the applicant to their own
#: household (clan, community, unit), the village head (trưởng thôn / tổ trưởng tổ dân phố) to
#: their village or residential group, a subject of kind community
SUBJECT_BOUND_ROLES = ("applicant", "village_head")

#: every role but the subject-bound ones: the people who work for the programme
STAFF_ROLES = tuple(r for r in ROLES if r not in SUBJECT_BOUND_ROLES)

#: roles that may act on any case of their territory as supervisors (take over a claim) and
#: that see the overview
SUPERVISOR_ROLES = ("province_officer", "manager", "admin")

#: who places a split commune's subjects under one of its successors after a reorganisation
#: (the provincial association and the province's admin, inside their province)
SUBJECT_ASSIGNERS = ("province_officer", "admin")

#: who reads the reports (bottlenecks, targets, trend)
REPORT_READERS = ("manager", "province_officer", "admin", *DEPARTMENT_ROLES)

#: roles that enter denominators (each inside their own territory)
DENOMINATOR_EDITORS = (
    "commune_reviewer",
    "district_reviewer",
    "manager",
    "province_officer",
    "admin",
)

#: who imports lists: a commune officer for their commune, a district officer for the
#: district, the provincial admin for the province (the territory check is per row)
IMPORTERS = ("commune_reviewer", "district_reviewer", "admin")

#: who follows their own imports' pages (progress, report, confirm, cancel): the importers,
#: and village heads, who upload their village's self-assessments from its page
IMPORT_JOB_OWNERS = (*IMPORTERS, "village_head")

#: who resets a household head's password (admins in their province, commune officers for
#: their commune's applicants: many have no e-mail)
PASSWORD_RESETTERS = ("commune_reviewer", "admin")

#: who hands out login slips: the same people who reset a household head's password
SLIP_ISSUERS = PASSWORD_RESETTERS

#: who edits a self-assessment and its evidence: the applicant, or a commune officer entering
#: a household's paper form
ASSESSMENT_EDITORS = ("applicant", "village_head", "commune_reviewer")

#: who enters a household's self-assessment on its behalf while it is with the household
#: (draft or returned): the commune officer, or the head of the household's village
ON_BEHALF_ENTRY_ROLES = ("village_head", "commune_reviewer")

#: who registers a village's households for a round (each registered household gets a draft)
#: and enters the village's grid: the village head for their village, the commune officer for
#: the villages of their commune
REGISTRARS = ON_BEHALF_ENTRY_ROLES

#: who creates village heads' accounts (and hands out their slips)
VILLAGE_HEAD_CREATORS = ("commune_reviewer", "admin")

#: who opens, changes and closes a round (the registration window and review deadlines)
ROUND_EDITORS = ("province_officer", "admin")

#: who registers subjects through the API (each inside their own territory)
SUBJECT_CREATORS = ("commune_reviewer", "district_reviewer", "province_officer", "admin")

#: who starts an application (a draft) through the API: the applicant, or an officer on the
#: applicant's behalf
CASE_STARTERS = (
    "applicant",
    "village_head",
    "commune_reviewer",
    "district_reviewer",
    "province_officer",
)

#: who drafts, issues and revokes recognition decisions (each within the issuing level of their
#: territory); every staff role reads them
DECISION_MAKERS = ("commune_reviewer", "district_reviewer", "province_officer", "manager")
