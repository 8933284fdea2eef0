using MailProtocols.Engine.Pop3;

namespace MailProtocols.Engine.Tests;

/// <summary>The fields a message object takes from its entry and its headers, compared one by one
/// so that a failure names the field.</summary>
internal static class SameHeaderFields
{
    public static void Assert(Pop3Message expected, Pop3Message actual)
    {
        Xunit.Assert.Equal(expected.Number, actual.Number);
        Xunit.Assert.Equal(expected.Uid, actual.Uid);
        Xunit.Assert.Equal(expected.Size, actual.Size);
        Xunit.Assert.Equal(expected.Date, actual.Date);
        Xunit.Assert.Equal(expected.From, actual.From);
        Xunit.Assert.Equal(expected.To, actual.To);
        Xunit.Assert.Equal(expected.Cc, actual.Cc);
        Xunit.Assert.Equal(expected.Subject, actual.Subject);
        Xunit.Assert.Equal(expected.MessageId, actual.MessageId);
    }
}
