"""Prices of every token class (issue 12): optional cached-input and reasoning prices on
the list price, and per-tenant prices (``TenantPrice``) that replace it from their date.

``usage_prices`` is a small table: SQLite's table rebuild for the new columns is cheap."""

import django.core.validators
import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0005_tenant_slug_is_never_an_id'),
        ('usage', '0010_token_classes'),
    ]

    operations = [
        migrations.CreateModel(
            name='TenantPrice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(max_length=32)),
                ('model', models.CharField(max_length=200)),
                ('input_per_million', models.DecimalField(decimal_places=6, max_digits=12, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million input tokens')),
                ('output_per_million', models.DecimalField(decimal_places=6, max_digits=12, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million output tokens')),
                ('cached_input_per_million', models.DecimalField(blank=True, decimal_places=6, help_text='Empty: cached input tokens cost the input price.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million cached input tokens')),
                ('reasoning_per_million', models.DecimalField(blank=True, decimal_places=6, help_text='Empty: reasoning tokens cost the output price.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million reasoning tokens')),
                ('effective_from', models.DateTimeField()),
                ('note', models.CharField(blank=True, default='', max_length=200)),
            ],
            options={
                'verbose_name': 'tenant price',
                'db_table': 'usage_tenant_prices',
                'ordering': ['tenant', 'provider', 'model', '-effective_from'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='price',
            name='price_not_negative',
        ),
        migrations.AddField(
            model_name='price',
            name='cached_input_per_million',
            field=models.DecimalField(blank=True, decimal_places=6, help_text='Empty: cached input tokens cost the input price.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million cached input tokens'),
        ),
        migrations.AddField(
            model_name='price',
            name='reasoning_per_million',
            field=models.DecimalField(blank=True, decimal_places=6, help_text='Empty: reasoning tokens cost the output price.', max_digits=12, null=True, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million reasoning tokens'),
        ),
        migrations.AlterField(
            model_name='price',
            name='input_per_million',
            field=models.DecimalField(decimal_places=6, max_digits=12, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million input tokens'),
        ),
        migrations.AlterField(
            model_name='price',
            name='output_per_million',
            field=models.DecimalField(decimal_places=6, max_digits=12, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(Decimal('100000'))], verbose_name='USD per million output tokens'),
        ),
        migrations.AddConstraint(
            model_name='price',
            constraint=models.CheckConstraint(condition=models.Q(('input_per_million__gte', 0), ('output_per_million__gte', 0), models.Q(('cached_input_per_million__isnull', True), ('cached_input_per_million__gte', 0), _connector='OR'), models.Q(('reasoning_per_million__isnull', True), ('reasoning_per_million__gte', 0), _connector='OR')), name='price_not_negative'),
        ),
        migrations.AddField(
            model_name='tenantprice',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
        migrations.AddConstraint(
            model_name='tenantprice',
            constraint=models.UniqueConstraint(fields=('tenant', 'provider', 'model', 'effective_from'), name='unique_tenant_price_start'),
        ),
        migrations.AddConstraint(
            model_name='tenantprice',
            constraint=models.CheckConstraint(condition=models.Q(('input_per_million__gte', 0), ('output_per_million__gte', 0), models.Q(('cached_input_per_million__isnull', True), ('cached_input_per_million__gte', 0), _connector='OR'), models.Q(('reasoning_per_million__isnull', True), ('reasoning_per_million__gte', 0), _connector='OR')), name='tenant_price_not_negative'),
        ),
    ]
