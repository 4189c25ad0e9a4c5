"""Operations snapshots (the Operations screen's history) and the last refresh's duration."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('usage', '0008_budgets'),
    ]

    operations = [
        migrations.CreateModel(
            name='OperationsSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('taken_at', models.DateTimeField(unique=True)),
                ('figures', models.JSONField()),
            ],
            options={
                'db_table': 'usage_ops_snapshot',
                'ordering': ['taken_at'],
            },
        ),
        migrations.AddField(
            model_name='summarystate',
            name='refresh_seconds',
            field=models.FloatField(null=True),
        ),
    ]
