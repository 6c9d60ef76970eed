"""The titles (danh hiệu) and the kinds of subject that apply for them: the one list every
module reads (DOMAIN.md, "The four titles", and TT 25/2023/TT-BGDĐT for the commune).

``commune`` is the commune-level learning community ("Cộng đồng học tập cấp xã"): the whole
commune applies, one subject per commune, entered by a commune officer.
"""

from __future__ import annotations

#: the title each kind of subject applies for
TITLE_OF_KIND = {
    "family": "family",
    "clan": "clan",
    "community": "community",
    "commune": "commune",
    "unit": "unit",
}
#: the kinds of subject: a household, a clan, a village (thôn/tổ dân phố), the commune
#: itself, an agency or other unit
KINDS = tuple(TITLE_OF_KIND)
#: the titles, in the order screens and reports list them
TITLES = tuple(TITLE_OF_KIND.values())
#: kinds of which a commune has at most one: the commune itself
ONE_PER_COMMUNE = ("commune",)
