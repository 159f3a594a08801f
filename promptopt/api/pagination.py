"""List pagination for the API: numbered pages, `page_size` up to a bound, with the total count."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        # DRF falls back to the default for a page_size it cannot use; a client asking for -1 or "all" would
        # silently get 50 rows and think it had everything. Refuse it, as every other bad parameter is refused.
        value = request.query_params.get(self.page_size_query_param)
        # isascii: "²" is a digit to isdigit() but not to int(); the length keeps int() away from huge strings.
        if value is not None and not (value.isascii() and value.isdigit() and len(value) <= 9 and int(value) >= 1):
            raise ValidationError({self.page_size_query_param: ["use a whole number from 1 (at most 200)"]})
        return super().get_page_size(request) or self.page_size
