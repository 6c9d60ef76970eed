"""The user account form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from htsd_workflow.core.text import whole_number


class IdField(IntegerField):
    """A record's id typed in a form: ASCII digits from 1 to the largest key. (``int()`` reads
    "١٢" as 12, and a larger number than the key holds must not reach SQL.)"""

    def process_formdata(self, valuelist):
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        self.data = whole_number(valuelist[0], 1)
        if self.data is None:
            raise ValueError(_l("Mã đối tượng không hợp lệ."))


class UserForm(FlaskForm):
    username = StringField(
        _l("Tên đăng nhập"),
        validators=[DataRequired(_l("Hãy nhập tên đăng nhập")), Length(max=80)],
    )
    full_name = StringField(_l("Họ và tên"), validators=[Optional(), Length(max=200)])
    email = StringField(
        _l("Thư điện tử"),
        # a plain pattern: wtforms' Email() needs the email_validator package, which is not
        # installed (it failed with a 500 on any address)
        validators=[
            Optional(),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Thư điện tử chưa đúng dạng")),
            Length(max=200),
        ],
    )
    phone = StringField(_l("Số điện thoại"), validators=[Optional(), Length(max=20)])
    role = SelectField(_l("Vai trò"), validators=[DataRequired()])
    unit_code = SelectField(_l("Địa bàn (tỉnh, huyện hoặc xã)"), validate_choice=False)
    #: what the admin types to find the household (its code or part of its name)
    subject_query = StringField(
        _l("Hộ, dòng họ, cộng đồng hoặc đơn vị (chỉ với người nộp hồ sơ)"),
        validators=[Optional(), Length(max=200)],
    )
    #: the one chosen among what the search found
    subject_id = IdField(_l("Đối tượng"), validators=[Optional()])
    password = PasswordField(
        _l("Mật khẩu ban đầu"),
        validators=[Optional(), Length(min=8, message=_l("Mật khẩu cần ít nhất 8 ký tự"))],
    )
