using System;
using System.Collections.Generic;

namespace MailProtocols.Engine.Smtp;

/// <summary>One recipient the server refused, with its reply.</summary>
public sealed class SmtpRejectedRecipient
{
    public SmtpRejectedRecipient(string address, int statusCode, string response)
    {
        Address = address;
        StatusCode = statusCode;
        Response = response;
    }

    public string Address { get; }

    /// <summary>The SMTP reply code, e.g. 550.</summary>
    public int StatusCode { get; }

    /// <summary>The server's reply text.</summary>
    public string Response { get; }

    /// <summary>True for a 4xx reply that was still refused after every retry.</summary>
    public bool IsTransient => StatusCode >= 400 && StatusCode < 500;

    public override string ToString() => Address;
}

/// <summary>What happened to one message: the output object of Send-SmtpMessage.</summary>
public sealed class SmtpSendResult
{
    public string MessageId { get; set; } = "";
    public string From { get; set; } = "";
    public string? Subject { get; set; }

    /// <summary>Envelope recipients the server accepted (To, Cc and Bcc).</summary>
    public TextList<string> Accepted { get; set; } = TextList<string>.None;

    /// <summary>Envelope recipients the server refused. (A list, not an array: PowerShell's
    /// member enumeration of $result.Rejected.Address would find the array's Address method.)</summary>
    public TextList<SmtpRejectedRecipient> Rejected { get; set; } = TextList<SmtpRejectedRecipient>.None;

    public string SmtpServer { get; set; } = "";
    public int Port { get; set; }

    /// <summary>e.g. "Tls13"; "None" over plain text.</summary>
    public string TlsProtocol { get; set; } = "None";

    /// <summary>True when the server's certificate passed validation. False over plain text, with
    /// -SkipCertificateCheck, and for opportunistic TLS to a server whose certificate failed.</summary>
    public bool CertificateValidated { get; set; }

    /// <summary>Why the certificate failed validation, when opportunistic TLS went on without it; null otherwise.</summary>
    public string? CertificateProblem { get; set; }

    /// <summary>The SASL mechanism that signed in (e.g. "GSSAPI" for the current logon,
    /// "XOAUTH2", "PLAIN"); null when the message went without authentication.</summary>
    public string? AuthenticationMechanism { get; set; }

    /// <summary>True when the module signed in as the current logon on its own (the Send-MailMessage
    /// rule: no credential was given, and the server refused the message without authentication);
    /// AuthenticationMechanism then says GSSAPI.</summary>
    public bool AutomaticSignIn { get; set; }

    /// <summary>The server's reply to the end of the message data.</summary>
    public string ServerResponse { get; set; } = "";

    /// <summary>How many transactions it took (1 unless transient failures were retried, or the
    /// message went again after the automatic sign-in, see <see cref="AutomaticSignIn"/>).</summary>
    public int Attempts { get; set; }

    public long Size { get; set; }

    public TimeSpan Elapsed { get; set; }
}
