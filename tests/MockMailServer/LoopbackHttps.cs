using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace MockMail;

/// <summary>One request as <see cref="LoopbackHttps"/> hands it to its handler.</summary>
internal sealed record LoopbackRequest(string Method, string Target, string? ContentType, string Body);

/// <summary>
/// What <see cref="LoopbackHttps"/> answers: a JSON body, or with <paramref name="Location"/>
/// and no body a redirect.
/// </summary>
internal sealed record LoopbackReply(int Status, Dictionary<string, object>? Json, string? Location = null);

/// <summary>
/// A loopback HTTPS listener that answers each request (one per connection, Connection: close)
/// with the reply a handler returns.
/// A handler that throws answers 500 with the OAuth2 error server_error.
/// </summary>
internal sealed class LoopbackHttps : IDisposable
{
    private const int MaxBody = 64 * 1024;
    private readonly X509Certificate2 _certificate;
    private readonly Func<LoopbackRequest, LoopbackReply> _handle;
    private readonly string _name;
    private TcpListener? _listener;
    private Thread? _acceptThread;

    /// <param name="handle">request -> (status, JSON body).</param>
    public LoopbackHttps(X509Certificate2 certificate, string name, Func<LoopbackRequest, (int Status, Dictionary<string, object> Body)> handle)
        : this(certificate, name, request =>
        {
            var (status, json) = handle(request);
            return new LoopbackReply(status, json);
        })
    {
    }

    public LoopbackHttps(X509Certificate2 certificate, string name, Func<LoopbackRequest, LoopbackReply> handle)
    {
        _certificate = certificate;
        _name = name;
        _handle = handle;
    }

    /// <summary>The listening port; 0 before Start.</summary>
    public int Port { get; private set; }

    public void Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(50);
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _acceptThread = new Thread(() => Accept(listener)) { IsBackground = true, Name = _name + " accept" };
        _acceptThread.Start();
    }

    public void Dispose()
    {
        _listener?.Stop();
        _listener = null;
        _acceptThread?.Join(5000);
    }

    private void Accept(TcpListener listener)
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = listener.AcceptTcpClient();
            }
            catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException || ex is InvalidOperationException)
            {
                return;
            }

            ThreadPool.QueueUserWorkItem(_ => Serve(client));
        }
    }

    private void Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                client.ReceiveTimeout = 10000;
                client.SendTimeout = 10000;
                using var tls = new SslStream(client.GetStream());
                tls.AuthenticateAsServer(_certificate, false, false);
                var request = ReadRequest(tls);
                LoopbackReply reply;
                try
                {
                    reply = _handle(request);
                }
#pragma warning disable CA1031 // a mock's own bug must come back as a reply, never end the test process
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    reply = new LoopbackReply(500, new Dictionary<string, object> { ["error"] = "server_error", ["error_description"] = "Mock failure: " + ex.Message });
                }

                var payload = reply.Json is null ? Array.Empty<byte>() : Encoding.UTF8.GetBytes(JsonSerializer.Serialize(reply.Json));
                var head = $"HTTP/1.1 {reply.Status} {(reply.Status == 200 ? "OK" : reply.Location is null ? "Error" : "Redirect")}\r\n" +
                    (reply.Location is null ? "Content-Type: application/json; charset=utf-8\r\n" : $"Location: {reply.Location}\r\n") +
                    $"Content-Length: {payload.Length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
                tls.Write(Encoding.ASCII.GetBytes(head));
                tls.Write(payload);
                tls.Flush();
            }
            catch (Exception ex) when (ex is IOException || ex is System.Security.Authentication.AuthenticationException || ex is InvalidDataException || ex is ObjectDisposedException)
            {
                // A client that gave up, or did not trust the certificate: nothing to answer.
            }
        }
    }

    /// <summary>A form-encoded body (application/x-www-form-urlencoded) as name -> value.</summary>
    public static Dictionary<string, string> ParseForm(string body)
    {
        var form = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in body.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=');
            var name = Uri.UnescapeDataString((at < 0 ? pair : pair.Substring(0, at)).Replace('+', ' '));
            var value = at < 0 ? "" : Uri.UnescapeDataString(pair.Substring(at + 1).Replace('+', ' '));
            form[name] = value;
        }

        return form;
    }

    private static LoopbackRequest ReadRequest(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (stream.Read(one, 0, 1) == 0 || head.Length > 16384)
            {
                throw new InvalidDataException("The request head ended early or is too long.");
            }

            head.Append((char)one[0]);
        }

        var lines = head.ToString().Split("\r\n");
        var request = lines[0].Split(' ');
        if (request.Length != 3)
        {
            throw new InvalidDataException("Not an HTTP request line.");
        }

        var length = 0;
        string? contentType = null;
        foreach (var line in lines)
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line.Substring(15).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))
            {
                contentType = line.Substring(13).Trim();
            }
        }

        if (length > MaxBody)
        {
            throw new InvalidDataException("The request body is too large.");
        }

        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = stream.Read(body, read, length - read);
            if (n == 0)
            {
                throw new InvalidDataException("The request body ended early.");
            }

            read += n;
        }

        return new LoopbackRequest(request[0], request[1], contentType, Encoding.UTF8.GetString(body));
    }
}
