from smsd.cli import run

run()
