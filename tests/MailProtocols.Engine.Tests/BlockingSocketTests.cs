using System;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>
/// The wire's socket stays a blocking one in the kernel, whatever the connection went through
/// (connect, implicit TLS, STARTTLS): once .NET has made a socket non-blocking (any async call
/// does, on Linux for good), each blocking read it emulates is woken by another thread, a thread
/// hop per reply.
/// </summary>
public class BlockingSocketTests
{
    private const int GetFlags = 3; // F_GETFL on Linux and macOS

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    private static readonly Lazy<X509Certificate2> Certificate = new(() =>
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pfx), null);
    });

    /// <summary>Asserts that the socket's descriptor is in blocking mode, as the kernel sees it.</summary>
    private static void AssertBlocking(Socket socket)
    {
        if (OperatingSystem.IsWindows())
        {
            // No F_GETFL there; what .NET reports is all there is to check.
            Assert.True(socket.Blocking, "the socket is in non-blocking mode");
            return;
        }

        var flags = fcntl((int)socket.Handle, GetFlags, 0);
        Assert.True(flags >= 0, $"fcntl failed: errno {Marshal.GetLastPInvokeError()}");
        var nonBlocking = OperatingSystem.IsLinux() ? 0x800 : 0x4; // O_NONBLOCK
        Assert.True((flags & nonBlocking) == 0, $"the socket's descriptor is O_NONBLOCK (flags 0x{flags:x})");
    }

    private static SmtpWire Wire(string host, int port, TimeSpan? timeout = null)
    {
        var settings = new ConnectionSettings { Host = host, Port = port, SkipCertificateCheck = true, Timeout = timeout ?? TimeSpan.FromSeconds(10) };
        return new SmtpWire(settings, new ProtocolTap(null), Connector.Validator(settings));
    }

    private static void Greet(Socket peer) => peer.Send(Encoding.ASCII.GetBytes("220 test ESMTP\r\n"));

    /// <summary>A server that speaks TLS at once and greets inside it.</summary>
    private static void TlsGreet(Socket peer)
    {
        using var ssl = new SslStream(new NetworkStream(peer, ownsSocket: false));
        ssl.AuthenticateAsServer(Certificate.Value);
        ssl.Write(Encoding.ASCII.GetBytes("220 test ESMTP\r\n"));
        ssl.Flush();
        ssl.ReadByte(); // until the client hangs up
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public void APlainConnectionIsBlocking(string host)
    {
        using var server = new LoopbackServer((peer, stop) =>
        {
            Greet(peer);
            stop.WaitHandle.WaitOne();
        });
        using var wire = Wire(host, server.Port);

        wire.Connect("smtp", implicitTls: false, CancellationToken.None);

        Assert.Equal(220, wire.ReadReply(CancellationToken.None).Code);
        AssertBlocking(wire.Socket!);
    }

    [Fact]
    public async Task AnIPv6ConnectionIsBlocking()
    {
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        var accept = Task.Run(() =>
        {
            var peer = listener.AcceptSocket();
            Greet(peer);
            return peer;
        });
        using var wire = Wire("::1", ((IPEndPoint)listener.LocalEndpoint).Port);

        wire.Connect("smtp", implicitTls: false, CancellationToken.None);

        Assert.Equal(220, wire.ReadReply(CancellationToken.None).Code);
        AssertBlocking(wire.Socket!);
        (await accept).Dispose();
    }

    [Fact]
    public void AnImplicitTlsConnectionIsBlocking()
    {
        using var server = new LoopbackServer((peer, _) => TlsGreet(peer));
        using var wire = Wire("127.0.0.1", server.Port);

        wire.Connect("smtp", implicitTls: true, CancellationToken.None);

        Assert.True(wire.IsSecure);
        Assert.Equal(220, wire.ReadReply(CancellationToken.None).Code);
        AssertBlocking(wire.Socket!);
    }

    [Fact]
    public void AConnectionAfterStartTlsIsBlocking()
    {
        using var server = new LoopbackServer((peer, _) =>
        {
            peer.Send(Encoding.ASCII.GetBytes("220 ready for TLS\r\n"));
            TlsGreet(peer);
        });
        using var wire = Wire("127.0.0.1", server.Port);
        wire.Connect("smtp", implicitTls: false, CancellationToken.None);
        Assert.Equal(220, wire.ReadReply(CancellationToken.None).Code);

        wire.StartTls(CancellationToken.None);

        Assert.True(wire.IsSecure);
        Assert.Equal(220, wire.ReadReply(CancellationToken.None).Code);
        AssertBlocking(wire.Socket!);
    }

    /// <summary>A listener whose accept queue is full: the kernel drops further SYNs, so a
    /// connect to it waits (on Linux; elsewhere it may be refused or queued).</summary>
    private sealed class FullListener : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly Socket[] _fillers = new Socket[4];

        public FullListener()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(0);
            for (var i = 0; i < _fillers.Length; i++)
            {
                _fillers[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                _ = _fillers[i].ConnectAsync(_listener.LocalEndPoint!).ContinueWith(t => t.Exception);
            }

            Thread.Sleep(200);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public void Dispose()
        {
            foreach (var filler in _fillers)
            {
                filler.Dispose();
            }

            _listener.Dispose();
        }
    }

    [Fact]
    public void AConnectThatHangsEndsAtTheTimeout()
    {
        using var full = new FullListener();
        using var wire = Wire("127.0.0.1", full.Port, TimeSpan.FromMilliseconds(500));
        var watch = Stopwatch.StartNew();

        var error = Assert.Throws<MailOperationException>(() => wire.Connect("smtp", implicitTls: false, CancellationToken.None));

        Assert.Equal("ConnectTimeout", error.ErrorId);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.4, 3);
    }

    [Fact]
    public void AConnectThatHangsEndsAtOnceWhenCancelled()
    {
        using var full = new FullListener();
        using var wire = Wire("127.0.0.1", full.Port, TimeSpan.FromSeconds(60));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var watch = Stopwatch.StartNew();

        Assert.ThrowsAny<OperationCanceledException>(() => wire.Connect("smtp", implicitTls: false, cancel.Token));

        Assert.InRange(watch.Elapsed.TotalSeconds, 0.2, 3);
    }

    [Fact]
    public void ARefusedConnectIsConnectFailed()
    {
        int port;
        using (var closed = new TcpListener(IPAddress.Loopback, 0))
        {
            closed.Start();
            port = ((IPEndPoint)closed.LocalEndpoint).Port;
        }

        using var wire = Wire("127.0.0.1", port);

        var error = Assert.Throws<MailOperationException>(() => wire.Connect("smtp", implicitTls: false, CancellationToken.None));

        Assert.Equal("ConnectFailed", error.ErrorId);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }
}
