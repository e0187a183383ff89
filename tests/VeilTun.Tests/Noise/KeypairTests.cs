using System.Security.Cryptography;
using VeilTun.Noise;
using Xunit;

namespace VeilTun.Tests.Noise;

public class KeypairTests
{
    private static void OnNewThread(Action action)
    {
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        t.Start();
        t.Join();
        if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());
    }

    [Fact]
    public void AWipedKeypairsKeysDoNotStayInTheThreadsCipherContexts()
    {
        var k1 = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var k2 = Enumerable.Range(101, 32).Select(i => (byte)i).ToArray();
        var keypair = new Keypair(k1, k2, true, TimeSpan.Zero, 1, 2);
        var peerSide = new Keypair(k2, k1, false, TimeSpan.Zero, 2, 1);
        OnNewThread(() =>
        {
            byte[] fromPeer8 = Seal(peerSide, 8);
            byte[] fromPeer9 = Seal(peerSide, 9);
            byte[] fromPeer10 = Seal(peerSide, 10);
            var message = new byte[64 + 16];
            Assert.True(keypair.TrySeal(7, message.AsSpan(0, 64), message)); // this thread now caches keypair's send key ...
            Assert.True(keypair.TryOpen(8, fromPeer8, new byte[64])); // ... and its receive key
            Assert.Equal((true, keypair, true, keypair), Keypair.ThreadKeysForTest);

            Keypair.ForgetWipedKeysOnThisThread(); // not wiped: kept
            Assert.Equal((true, keypair, true, keypair), Keypair.ThreadKeysForTest);

            keypair.Zero();
            Keypair.ForgetWipedKeysOnThisThread();
            Assert.Equal((false, null, false, null), Keypair.ThreadKeysForTest);
            Assert.False(keypair.TryOpen(9, fromPeer9, new byte[64]));

            // A fresh keypair keys the contexts again.
            var again = new Keypair(k1, k2, true, TimeSpan.Zero, 3, 4);
            Assert.True(again.TryOpen(10, fromPeer10, new byte[64]));
            Assert.Equal((false, null, true, again), Keypair.ThreadKeysForTest);
        });
    }

    [Fact]
    public async Task AWipeWaitsForTheSealInProgressAndNothingIsSealedAfterIt()
    {
        byte[] k1 = RandomNumberGenerator.GetBytes(32), k2 = RandomNumberGenerator.GetBytes(32);
        var keypair = new Keypair(k1, k2, true, TimeSpan.Zero, 1, 2);
        var peerSide = new Keypair(k2, k1, false, TimeSpan.Zero, 2, 1);
        using var inSeal = new ManualResetEventSlim();
        using var proceed = new ManualResetEventSlim();
        Keypair.AfterAcquireForTest = k =>
        {
            if (!ReferenceEquals(k, keypair)) return;
            inSeal.Set();
            proceed.Wait(TimeSpan.FromSeconds(10));
        };
        try
        {
            var message = new byte[64 + 16];
            var sealer = Task.Run(() => keypair.TrySeal(3, message.AsSpan(0, 64), message));
            Assert.True(inSeal.Wait(TimeSpan.FromSeconds(10)));
            // The seal holds its lease: the wipe must wait for it.
            var wipe = Task.Run(keypair.Zero);
            Assert.NotSame(wipe, await Task.WhenAny(wipe, Task.Delay(300))); // "the keys were wiped under a seal in progress"
            Keypair.AfterAcquireForTest = null;
            proceed.Set();
            Assert.True(await sealer.WaitAsync(TimeSpan.FromSeconds(10)));
            await wipe.WaitAsync(TimeSpan.FromSeconds(10));
            // Sealed under the real key, not a wiped one: the peer opens it.
            Assert.True(peerSide.TryOpen(3, message, new byte[64]));
            // Once wiped, nothing is sealed or opened any more.
            Assert.False(keypair.TrySeal(4, new byte[64], new byte[80]));
            Assert.False(keypair.TryOpen(3, Seal(peerSide, 3), new byte[64]));
            Assert.False(keypair.TryAcquire());
        }
        finally
        {
            Keypair.AfterAcquireForTest = null;
            proceed.Set();
        }
    }

    private static byte[] Seal(Keypair keypair, ulong nonce)
    {
        var message = new byte[64 + 16];
        Assert.True(keypair.TrySeal(nonce, message.AsSpan(0, 64), message));
        return message;
    }
}
