"""``{% load budget_alerts %}{% budget_alert_banner tenant %}``: the banner the admin index
and a tenant's screens show while an alert has fired in a budget window still open.

With a tenant (a screen's, already checked by its view) the banner is that tenant's;
without, it covers every tenant whose usage the requesting user may see.
"""

from django import template

from tenants.permissions import Action
from tenants.selectors import tenants_for_user
from usage.selectors import current_budget_alerts

register = template.Library()


@register.inclusion_tag("admin/budget_alert_banner.html", takes_context=True)
def budget_alert_banner(context, tenant=None) -> dict:
    request = context.get("request")
    if tenant is None:
        user = getattr(request, "user", None)
        tenants = tenants_for_user(user, Action.VIEW_USAGE) if user is not None else []
    else:
        tenants = tenant
    return {"alerts": current_budget_alerts(tenants), "one_tenant": tenant is not None}
