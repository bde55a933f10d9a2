import WinnowCLI

await Winnow.runAsync()
