from smsd.entry import run

run()
