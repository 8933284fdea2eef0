using System;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class RetryDelayTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 2, 2)]
    [InlineData(1, 3, 4)]
    [InlineData(1, 6, 32)]
    [InlineData(1, 7, 60)] // 64 s, capped
    [InlineData(2, 10, 60)] // 1024 s, capped
    [InlineData(0, 5, 0)]
    [InlineData(45, 2, 60)] // 90 s, capped
    [InlineData(600, 1, 600)] // an interval over the cap is the cap
    [InlineData(600, 10, 600)] // not 600 s x 2^9
    public void DoublesUpToSixtySecondsOrTheIntervalIfLonger(int intervalSec, int attempt, int expectedSec)
    {
        Assert.Equal(TimeSpan.FromSeconds(expectedSec), SmtpSender.RetryDelay(TimeSpan.FromSeconds(intervalSec), attempt));
    }
}
