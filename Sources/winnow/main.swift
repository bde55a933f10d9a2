import WinnowCLI
Winnow.main()
