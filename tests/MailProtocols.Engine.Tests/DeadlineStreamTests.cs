using System;
using System.Diagnostics;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class DeadlineStreamTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(400);

    [Fact]
    public void AReadThatGetsNoByteInTimeThrowsATimeout()
    {
        using var server = new LoopbackServer(LoopbackServer.Silent);
        using var stream = new DeadlineStream(server.Connect(), Short, CancellationToken.None);
        var watch = Stopwatch.StartNew();

        var ex = Assert.Throws<IOException>(() => stream.Read(new byte[16], 0, 16));

        Assert.True(ConnectErrors.IsTimeout(ex));
        Assert.True(stream.TimedOut);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.3, 3);
    }

    [Fact]
    public void TheBoundHoldsUnderTls()
    {
        // The server takes the connection and never answers the TLS client hello.
        using var server = new LoopbackServer(LoopbackServer.Silent);
        using var stream = new DeadlineStream(server.Connect(), Short, CancellationToken.None);
        using var tls = new SslStream(stream, leaveInnerStreamOpen: true);
        var watch = Stopwatch.StartNew();

        var ex = Assert.ThrowsAny<Exception>(() => tls.AuthenticateAsClient("localhost"));

        Assert.True(ConnectErrors.IsTimeout(ex), ex.ToString());
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.3, 3);
    }

    [Fact]
    public void AWriteThePeerDoesNotTakeThrowsATimeout()
    {
        using var server = new LoopbackServer(LoopbackServer.Silent);
        using var stream = new DeadlineStream(server.Connect(), Short, CancellationToken.None);
        var chunk = new byte[1024 * 1024];
        var watch = Stopwatch.StartNew();

        // The socket buffers take some megabytes; then each write must give up in time.
        var ex = Assert.Throws<IOException>(() =>
        {
            for (var i = 0; i < 1024; i++)
            {
                stream.Write(chunk, 0, chunk.Length);
            }
        });

        Assert.True(ConnectErrors.IsTimeout(ex));
        Assert.True(stream.TimedOut);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.3, 10);
    }

    [Fact]
    public void AbortEndsAWaitingReadAtOnceAsATimeout()
    {
        using var server = new LoopbackServer(LoopbackServer.Silent);
        using var stream = new DeadlineStream(server.Connect(), TimeSpan.FromSeconds(60), CancellationToken.None);
        var read = Task.Factory.StartNew(() => stream.Read(new byte[16], 0, 16), TaskCreationOptions.LongRunning);
        Thread.Sleep(200);
        var watch = Stopwatch.StartNew();

        stream.Abort(new TimeoutException("stalled"));

        var ex = Assert.Throws<IOException>(() => WaitOrFail(read));
        Assert.True(ConnectErrors.IsTimeout(ex));
        Assert.True(stream.TimedOut);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 1);
        Assert.Throws<IOException>(() => stream.Write(new byte[1], 0, 1));
    }

    [Fact]
    public void TheTokenEndsAWaitingReadAtOnce()
    {
        using var server = new LoopbackServer(LoopbackServer.Silent);
        using var cancel = new CancellationTokenSource();
        using var stream = new DeadlineStream(server.Connect(), TimeSpan.FromSeconds(60), cancel.Token);
        var read = Task.Factory.StartNew(() => stream.Read(new byte[16], 0, 16), TaskCreationOptions.LongRunning);
        Thread.Sleep(200);
        var watch = Stopwatch.StartNew();

        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => WaitOrFail(read));
        Assert.False(stream.TimedOut);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 1);
    }

    [Fact]
    public void AClosedConnectionEndsTheStream()
    {
        using var server = new LoopbackServer((peer, _) =>
        {
            peer.Send(new byte[] { (byte)'2', (byte)'2', (byte)'0' });
            peer.Shutdown(SocketShutdown.Both);
        });
        using var stream = new DeadlineStream(server.Connect(), TimeSpan.FromSeconds(60), CancellationToken.None);
        var buffer = new byte[16];
        var total = 0;
        int read;
        while ((read = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += read;
        }

        Assert.Equal(3, total);
        Assert.Equal(3, stream.BytesRead);
        Assert.False(stream.ReceivedTlsRecord);
    }

    [Theory]
    [InlineData(new byte[] { 0x16, 0x03, 0x01 }, 1, true)]
    [InlineData(new byte[] { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46 }, 7, true)]
    [InlineData(new byte[] { (byte)'2', (byte)'2', (byte)'0' }, 3, false)]
    public void RecognisesATlsRecordInTheFirstBytes(byte[] first, int chunk, bool tls)
    {
        using var server = new LoopbackServer((peer, stop) =>
        {
            for (var i = 0; i < first.Length; i += chunk)
            {
                peer.Send(first, i, Math.Min(chunk, first.Length - i), SocketFlags.None);
                Thread.Sleep(50);
            }

            stop.WaitHandle.WaitOne();
        });
        using var stream = new DeadlineStream(server.Connect(), TimeSpan.FromSeconds(5), CancellationToken.None);
        var buffer = new byte[16];
        var total = 0;
        while (total < first.Length)
        {
            total += stream.Read(buffer, total, buffer.Length - total);
        }

        Assert.Equal(tls, stream.ReceivedTlsRecord);
    }

    private static void WaitOrFail(Task task)
    {
        try
        {
            Assert.True(task.Wait(TimeSpan.FromSeconds(5)), "the read did not end");
        }
        catch (AggregateException ex)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException!).Throw();
        }
    }
}
