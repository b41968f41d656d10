from vitsdk.cli import main

main()
