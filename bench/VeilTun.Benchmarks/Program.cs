using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/VeilTun.Benchmarks -- --filter '*'   (or a class name, e.g. '*Aead*')
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
