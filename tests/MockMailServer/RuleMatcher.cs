using System;
using System.Collections.Generic;

namespace MockMail;

/// <summary>What a rule does, whichever the protocol (<see cref="SmtpRuleAction"/>, <see cref="Pop3RuleAction"/>).</summary>
internal enum RuleAction
{
    Reply,
    Close,
    ReplyThenClose,
    NeverReply,
    Delay,

    /// <summary>SMTP CloseMidData, POP3 CloseMidRetr.</summary>
    CloseMidTransfer,

    /// <summary>POP3 only.</summary>
    SendRaw,

    /// <summary>Write the reply one byte at a time, DelayMs apart.</summary>
    Trickle,
}

/// <summary>What the rule matcher and the sessions need from an SMTP or POP3 rule.</summary>
internal interface IMockRule
{
    string Command { get; set; }

    string? ArgumentContains { get; }

    int Times { get; set; }

    RuleAction Kind { get; }

    string? Reply { get; }

    int DelayMs { get; }

    int AfterBytes { get; }

    void Hit();
}

/// <summary>First-match rule lookup shared by the protocols (the caller holds the server lock).</summary>
internal static class RuleMatcher
{
    /// <summary>
    /// Returns the first rule (in list order) whose command is "*" or equals <paramref name="command"/>
    /// (case-insensitive), whose ArgumentContains is empty or a case-insensitive substring of
    /// <paramref name="argument"/>, and whose Times is not 0; decrements a positive Times and counts the hit.
    /// </summary>
    public static T? Match<T>(List<T> rules, string command, string argument)
        where T : class, IMockRule
    {
        foreach (var rule in rules)
        {
            if (rule.Times == 0)
            {
                continue;
            }

            string ruleCommand = rule.Command ?? "*";
            if (ruleCommand != "*" && !string.Equals(ruleCommand, command, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!string.IsNullOrEmpty(rule.ArgumentContains)
                && argument.IndexOf(rule.ArgumentContains, StringComparison.OrdinalIgnoreCase) < 0)
            {
                continue;
            }

            if (rule.Times > 0)
            {
                rule.Times--;
            }

            rule.Hit();
            return rule;
        }

        return null;
    }
}
