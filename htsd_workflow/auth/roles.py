"""Role codes, the level each works at, and the Vietnamese names shown to people."""

from __future__ import annotations

ROLES = (
    "applicant",
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

REVIEWER_ROLES = ("commune_reviewer", "district_reviewer", "education_reviewer", "culture_reviewer")

ROLE_LABELS_VI = {
    "applicant": "Người nộp hồ sơ",
    "commune_reviewer": "Cán bộ xét duyệt cấp xã",
    "district_reviewer": "Cán bộ thẩm định cấp huyện",
    "education_reviewer": "Sở Giáo dục và Đào tạo",
    "culture_reviewer": "Sở Văn hóa, Thể thao và Du lịch",
    "province_officer": "Hội Khuyến học tỉnh",
    "manager": "Lãnh đạo, quản lý",
    "admin": "Quản trị hệ thống",
}
