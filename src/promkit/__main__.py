from promkit.cli import main

main()
