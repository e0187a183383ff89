using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/VeilTun.Benchmarks -- --filter '*'   (or a class name, e.g. '*Aead*')
// dotnet run -c Release --project bench/VeilTun.Benchmarks -- churn ...       (HandshakeChurn; bench/churn.sh b)
if (args is ["churn", ..]) return VeilTun.Benchmarks.HandshakeChurn.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
