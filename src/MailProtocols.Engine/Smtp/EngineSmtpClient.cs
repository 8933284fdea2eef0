using System.Collections.Generic;
using MailKit;
using MailKit.Net.Smtp;
using MimeKit;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// MailKit's SmtpClient with three changes of policy: a refused recipient is recorded instead of
/// failing the whole message; DSN parameters are sent only when asked for; and the message data
/// always goes with DATA (never BDAT), so that the end of the data is a CRLF.CRLF the engine can see.
/// </summary>
internal sealed class EngineSmtpClient : SmtpClient
{
    public EngineSmtpClient(IProtocolLogger logger) : base(logger)
    {
    }

    /// <summary>null sends no NOTIFY parameter at all (an empty NOTIFY= is a syntax error).</summary>
    public DeliveryStatusNotification? Notify { get; set; }

    public List<MailboxAddress> AcceptedRecipients { get; } = new();

    public List<(MailboxAddress Mailbox, SmtpResponse Response)> RejectedRecipients { get; } = new();

    public void BeginTransaction()
    {
        AcceptedRecipients.Clear();
        RejectedRecipients.Clear();
        Capabilities &= ~(SmtpCapabilities.Chunking | SmtpCapabilities.BinaryMime);
    }

    protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) => Notify;

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        AcceptedRecipients.Add(mailbox);

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        RejectedRecipients.Add((mailbox, response));
}
