from rtsr.entry import run

run()
