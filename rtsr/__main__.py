from rtsr.cli import run

run()
