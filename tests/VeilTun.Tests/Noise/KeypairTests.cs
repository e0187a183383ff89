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
            keypair.Seal(7, message.AsSpan(0, 64), message); // this thread now caches keypair's send key ...
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

    private static byte[] Seal(Keypair keypair, ulong nonce)
    {
        var message = new byte[64 + 16];
        keypair.Seal(nonce, message.AsSpan(0, 64), message);
        return message;
    }
}
