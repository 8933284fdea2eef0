using System;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class ConnectorTests
{
    private const string Advice = "-TlsMode Implicit";

    private static MailOperationException ConnectFails(LoopbackServer server, TimeSpan timeout, Action<Connector, SmtpWire>? meanwhile = null)
    {
        var settings = new ConnectionSettings { Host = "127.0.0.1", Port = server.Port, TlsMode = TlsMode.Auto, Timeout = timeout };
        var tap = new ProtocolTap(null);
        using var wire = new SmtpWire(settings, tap, Connector.Validator(settings));
        var connector = new Connector(wire, settings, tap, SmtpSender.ImplicitTlsPort);
        var connect = Task.Factory.StartNew(() => connector.Connect(CancellationToken.None), TaskCreationOptions.LongRunning);
        meanwhile?.Invoke(connector, wire);
        try
        {
            Assert.True(connect.Wait(TimeSpan.FromSeconds(10)), "the connection phase did not end");
        }
        catch (AggregateException ex) when (ex.InnerException is MailOperationException error)
        {
            return error;
        }

        throw new Xunit.Sdk.XunitException("The connection succeeded.");
    }

    [Fact]
    public void ASilentServerIsAConnectTimeoutThatSuggestsImplicitTls()
    {
        using var server = new LoopbackServer(LoopbackServer.Silent);
        var watch = Stopwatch.StartNew();

        var error = ConnectFails(server, TimeSpan.FromMilliseconds(500));

        Assert.Equal("ConnectTimeout", error.ErrorId);
        Assert.Contains(Advice, error.Message);
        Assert.True(error.IsSessionFailure);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.4, 3);
    }

    [Fact]
    public void AServerThatAnswersInTlsGetsTheSameAdvice()
    {
        // A TLS alert where the greeting belongs, then the server hangs up.
        using var server = new LoopbackServer((peer, _) =>
        {
            peer.Send(new byte[] { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46 });
            peer.Shutdown(SocketShutdown.Both);
        });

        var error = ConnectFails(server, TimeSpan.FromSeconds(5));

        Assert.Contains(Advice, error.Message);
    }

    [Fact]
    public void ASilenceAfterAPlainTextGreetingIsAConnectTimeoutWithoutTheAdvice()
    {
        using var server = new LoopbackServer((peer, stop) =>
        {
            peer.Send(Encoding.ASCII.GetBytes("220 test ESMTP\r\n"));
            stop.WaitHandle.WaitOne();
        });

        // Long enough for the greeting to arrive on a loaded machine: a greeting missed is the
        // other case (the advice), which the test must not see by accident.
        var error = ConnectFails(server, TimeSpan.FromSeconds(3));

        Assert.Equal("ConnectTimeout", error.ErrorId);
        Assert.DoesNotContain(Advice, error.Message);
    }

    [Fact]
    public void AStallFoundDuringTheConnectionPhaseIsAConnectTimeoutAtOnce()
    {
        // A greeting that trickles in, and the connection aborted meanwhile (as the caller's
        // Ctrl+C or a watchdog would) long before the phase's own deadline: the error is the one
        // the deadline gives.
        using var server = new LoopbackServer((peer, stop) =>
        {
            peer.Send(Encoding.ASCII.GetBytes("2"));
            stop.WaitHandle.WaitOne();
        });
        var watch = Stopwatch.StartNew();

        var error = ConnectFails(server, TimeSpan.FromSeconds(30), (connector, wire) =>
        {
            while (wire.BytesRead == 0 && watch.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(10);
            }

            connector.Abort("The server took too long to send one reply line.");
        });

        Assert.Equal("ConnectTimeout", error.ErrorId);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 5);
    }
}
