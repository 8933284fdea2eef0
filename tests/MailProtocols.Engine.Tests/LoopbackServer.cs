using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Tests;

/// <summary>A one-connection TCP server on loopback that runs a script against the client; the
/// script's socket is closed when the server is disposed.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private Socket? _peer;

    public LoopbackServer(Action<Socket, CancellationToken> script)
    {
        _listener.Start();
        _run = Task.Factory.StartNew(() =>
        {
            _peer = _listener.AcceptSocket();
            script(_peer, _stop.Token);
        }, TaskCreationOptions.LongRunning);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>A script that accepts and then says nothing until the end of the test.</summary>
    public static void Silent(Socket peer, CancellationToken stop) => stop.WaitHandle.WaitOne();

    public Socket Connect()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(IPAddress.Loopback, Port);
        return socket;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _peer?.Dispose();
        try
        {
            _run.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The script ends by an error when the test closed the connection first.
        }
    }
}
