"""``{% load usage_money %}`` then ``{{ cost|usd }}``: usage.money.format_usd in templates."""

from django import template

from usage.money import format_usd

register = template.Library()


@register.filter
def usd(value) -> str:
    return format_usd(value)
