from .cli import main

main(prog_name="pic2emoji")
