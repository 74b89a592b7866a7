from ocularis.cli import main

main()
