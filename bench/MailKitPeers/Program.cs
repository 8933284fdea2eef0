using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using MailKit.Net.Pop3;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

// Usage (prints one JSON object of best times in seconds, connect to QUIT reply):
//   MailKitPeers smtp <host> <port> <count> <runs> [<user> <password>]
//   MailKitPeers pop3 <host> <port> <user> <password> <count> <runs> <folder>
// Every session uses STARTTLS (STLS) without certificate validation, as the other contenders do.
static class Program
{
    static int Main(string[] args)
    {
        var results = new Dictionary<string, double>();
        string host = args[1];
        int port = int.Parse(args[2], CultureInfo.InvariantCulture);
        if (args[0] == "smtp")
        {
            int count = int.Parse(args[3], CultureInfo.InvariantCulture);
            int runs = int.Parse(args[4], CultureInfo.InvariantCulture);
            string? user = args.Length > 6 ? args[5] : null;
            string? password = args.Length > 6 ? args[6] : null;
            Smtp(host, port, user, password, 3);
            results["send"] = Best(runs, () => Smtp(host, port, user, password, count));
        }
        else if (args[0] == "pop3")
        {
            string user = args[3], password = args[4], folder = args[7];
            int count = int.Parse(args[5], CultureInfo.InvariantCulture);
            int runs = int.Parse(args[6], CultureInfo.InvariantCulture);
            int run = 0;
            // Warm up (JIT), then each way of reading the mailbox.
            Pop3(host, port, user, password, count, c => c.GetMessageHeaders(0));
            results["getheader"] = Best(runs, () => Pop3(host, port, user, password, count, c => { for (int i = 0; i < count; i++) c.GetMessageHeaders(i); }));
            results["getheaders_batch"] = Best(runs, () => Pop3(host, port, user, password, count, c => c.GetMessageHeaders(0, count)));
            results["getmessage"] = Best(runs, () => Pop3(host, port, user, password, count, c => { for (int i = 0; i < count; i++) c.GetMessage(i); }));
            results["getmessages_batch"] = Best(runs, () => Pop3(host, port, user, password, count, c => c.GetMessages(0, count)));
            results["getstream_files"] = Best(runs, () =>
            {
                string target = Path.Combine(folder, "mailkit" + (++run).ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(target);
                double seconds = Pop3(host, port, user, password, count, c =>
                {
                    for (int i = 0; i < count; i++)
                    {
                        using var stream = c.GetStream(i);
                        using var file = File.Create(Path.Combine(target, (i + 1).ToString(CultureInfo.InvariantCulture) + ".eml"));
                        stream.CopyTo(file);
                    }
                });
                if (Directory.GetFiles(target).Length != count) throw new InvalidOperationException("files missing");
                // Kept for the caller to delete at the end: deleting many files slows the next
                // files created (see RealServers.ps1).
                return seconds;
            });
        }
        else
        {
            Console.Error.WriteLine("first argument: smtp or pop3");
            return 2;
        }
        Console.WriteLine("{" + string.Join(", ", results.Select(r => "\"" + r.Key + "\": " + r.Value.ToString("R", CultureInfo.InvariantCulture))) + "}");
        return 0;
    }

    static double Best(int runs, Func<double> run) => Enumerable.Range(0, runs).Select(_ => run()).Min();

    static double Smtp(string host, int port, string? user, string? password, int count)
    {
        var watch = Stopwatch.StartNew();
        using var client = new SmtpClient { CheckCertificateRevocation = false, ServerCertificateValidationCallback = (s, c, h, e) => true };
        client.Connect(host, port, SecureSocketOptions.StartTls);
        if (user != null && password != null) client.Authenticate(user, password);
        for (int n = 1; n <= count; n++)
        {
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("bench@example.com"));
            message.To.Add(MailboxAddress.Parse("user" + n.ToString(CultureInfo.InvariantCulture) + "@example.com"));
            message.Subject = "Bench " + n.ToString(CultureInfo.InvariantCulture);
            message.Body = new TextPart("plain") { Text = "Message " + n.ToString(CultureInfo.InvariantCulture) + " of " + count.ToString(CultureInfo.InvariantCulture) };
            client.Send(message);
        }
        client.Disconnect(true);
        return watch.Elapsed.TotalSeconds;
    }

    static double Pop3(string host, int port, string user, string password, int count, Action<Pop3Client> work)
    {
        var watch = Stopwatch.StartNew();
        using var client = new Pop3Client { CheckCertificateRevocation = false, ServerCertificateValidationCallback = (s, c, h, e) => true };
        client.Connect(host, port, SecureSocketOptions.StartTls);
        client.Authenticate(user, password);
        if (client.Count != count) throw new InvalidOperationException("mailbox holds " + client.Count + " messages, expected " + count);
        work(client);
        client.Disconnect(true);
        return watch.Elapsed.TotalSeconds;
    }
}
