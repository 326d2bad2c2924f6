import asyncio, logging
from pathlib import Path
from tests.unit.test_jobs_properties import scenario, Request

async def test_dbg(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    z = {'daily_micro_usd': 0, 'monthly_micro_usd': 0, 'daily_images': 0, 'user_daily_images': 0, 'user_daily_micro_usd': 0, 'max_count': 0}
    await scenario(tmp_path, 30, 12000, [z,z,z], [None]*3, [[Request(guild=1, member=1, model='gpt-image-1', size='auto', quality='auto', n=1, edit_inputs=())]], 0)
