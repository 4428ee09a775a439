from cradle.interfaces.cli.app import main

main()
