from queuectl.launcher import main

main()
