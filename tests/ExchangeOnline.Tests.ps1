# What the cmdlets do where the server answers as Exchange Online does: its refusals of a
# sign-in (each with its own ErrorId and the one sentence that names the fix, from the engine's
# table in AuthenticationHints.cs).

BeforeDiscovery {
    # Mode: the mock's SmtpOptions.ExchangeAuthRefusal; Pop3: Pop3Options.ExchangeAuthRefusal instead.
    $refusals = @(
        @{ Case = 'SMTP AUTH off for the tenant, password'; Mode = 'SmtpAuthDisabledForTenant'; OAuth = $false
            ErrorId = 'SmtpAuthenticationDisabled'; Reply = '535 5.7.139'; Fix = 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false' }
        @{ Case = 'SMTP AUTH off for the mailbox, token'; Mode = 'SmtpAuthDisabledForMailbox'; OAuth = $true
            ErrorId = 'SmtpAuthenticationDisabled'; Reply = '535 5.7.139'; Fix = 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false' }
        @{ Case = 'Basic authentication retired, password'; Mode = 'BasicAuthNotSupported'; OAuth = $false
            ErrorId = 'BasicAuthenticationNotSupported'; Reply = '550 5.7.30'; Fix = 'SMTP.SendAsApp' }
        @{ Case = 'a token Exchange does not accept for the mailbox'; Mode = 'AuthenticationUnsuccessful'; OAuth = $true
            ErrorId = 'MailboxAccessNotGranted'; Reply = '535 5.7.3'; Fix = 'New-ServicePrincipal -AppId <client id> -ObjectId' }
        @{ Case = 'a password Exchange does not accept'; Mode = 'AuthenticationUnsuccessful'; OAuth = $false
            ErrorId = 'AuthenticationFailed'; Reply = '535 5.7.3'; Fix = 'send with OAuth2' }
        @{ Case = 'POP3: a token Exchange does not accept for the mailbox'; Pop3 = $true; OAuth = $true
            ErrorId = 'MailboxAccessNotGranted'; Reply = 'Authentication failure: unknown user name or bad password'; Fix = 'POP.AccessAsApp' }
    )
}

Describe 'Exchange Online refuses the sign-in' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $password = $mock.Users['alice']
        $token = $mock.OAuthTokens['alice']

        function Invoke-Refused {
            # The command for the case, with -ErrorAction SilentlyContinue; returns every record
            # it wrote to any stream, and its -ErrorVariable.
            param([bool] $OAuth, [bool] $Pop3)
            $auth = if ($OAuth) { @{ AccessToken = (ConvertTo-SecureString $token -AsPlainText -Force); UserName = 'alice' } }
            else { @{ Credential = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force)) } }
            $ev = $null
            $records = if ($Pop3) {
                Get-Pop3Message -Pop3Server $mock.Host -Port $mock.Pop3Port -SkipCertificateCheck @auth -ErrorAction SilentlyContinue -ErrorVariable ev *>&1
            }
            else {
                Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck @auth -From 'alice@example.com' -To 'bob@example.com' `
                    -Subject 'x' -ErrorAction SilentlyContinue -ErrorVariable ev *>&1
            }
            [pscustomobject]@{ Records = @($records); Errors = @($ev) }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $null = $mock.AddTestMessages('alice', 1)
    }

    Context '<Case>' -ForEach $refusals {
        BeforeEach {
            if ($Pop3) { $mock.Pop3.ExchangeAuthRefusal = $true } else { $mock.Smtp.ExchangeAuthRefusal = $Mode }
            $run = Invoke-Refused -OAuth $OAuth -Pop3 ([bool]$Pop3)
        }

        It 'writes one error with its own ErrorId, the category AuthenticationError and the user as target' {
            $run.Errors.Count | Should -Be 1
            $e = $run.Errors[0]
            $command = if ($Pop3) { 'GetPop3MessageCommand' } else { 'SendSmtpMessageCommand' }
            $e.FullyQualifiedErrorId | Should -Be "$ErrorId,MailProtocols.Commands.$command"
            $e.CategoryInfo.Category | Should -Be 'AuthenticationError'
            $e.TargetObject | Should -Be 'alice'
        }

        It 'quotes the server and names the fix in the message, without the secret' {
            $message = $run.Errors[0].Exception.Message
            $message | Should -BeLike "*$Reply*"
            $message | Should -BeLike "*$Fix*"
            $message | Should -Not -BeLike "*$password*"
            $message | Should -Not -BeLike "*$token*"
        }

        It 'prints nothing on any stream with -ErrorAction SilentlyContinue, and sends or deletes nothing' {
            $run.Records.Count | Should -Be 0
            $mock.Messages.Count | Should -Be 0
            $mock.GetMailbox('alice').Count | Should -Be 1
        }
    }

    It 'keeps the ordinary AuthenticationFailed, without an Exchange hint, for other refusals' {
        $run = Invoke-Refused -OAuth $false -Pop3 $false
        $run.Errors.Count | Should -Be 0 -Because 'the mock takes the right password when no refusal is set'
        $mock.Reset()
        $null = $mock.ReplyTo('AUTH', '', '535 5.7.8 Authentication credentials invalid', -1)
        $run = Invoke-Refused -OAuth $false -Pop3 $false
        $run.Errors[0].FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $run.Errors[0].Exception.Message | Should -Not -Match 'OAuth2|Exchange'
    }
}

Describe 'Send-SmtpMessage -MaximumMessagesPerMinute' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $smtp = @{ SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; From = 'ops@example.com' }
        $rows = 1..5 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }

        function Get-MailTimes {
            # When each MAIL FROM reached the mock, in order, over every session.
            @($mock.SmtpSessions | ForEach-Object {
                    $s = $_
                    for ($i = 0; $i -lt $s.Commands.Count; $i++) { if ($s.Commands[$i] -like 'MAIL FROM:*') { $s.CommandTimes[$i] } }
                } | Sort-Object)
        }

        function Start-Paced {
            # Send-SmtpMessage in a runspace of its own, so that its progress records can be read
            # and it can be stopped as Ctrl+C stops it.
            param([int] $PerMinute, [int] $Count)
            $ps = [powershell]::Create()
            $null = $ps.AddScript({
                    param($ModulePath, $Smtp, $PerMinute, $Count)
                    Import-Module $ModulePath
                    1..$Count | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } } |
                        Send-SmtpMessage @Smtp -MaximumMessagesPerMinute $PerMinute
                }).AddArgument($modulePath).AddArgument($smtp).AddArgument($PerMinute).AddArgument($Count)
            $ps
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    It 'spaces the messages of a pipeline evenly, and sends every one' {
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $out = $rows | Send-SmtpMessage @smtp -MaximumMessagesPerMinute 120
        $watch.Stop()
        @($out).Count | Should -Be 5
        @($out.Subject) | Should -Be @('row 1', 'row 2', 'row 3', 'row 4', 'row 5')
        $mock.WaitForMessages(5, 5000) | Should -BeTrue
        @($mock.Messages.AcceptedRecipients) | Should -Be @('u1@example.com', 'u2@example.com', 'u3@example.com', 'u4@example.com', 'u5@example.com')
        # 120 a minute: one every 0.5 s, the first at once. Totals only, with a margin for
        # the jitter between a turn and the mock reading its MAIL (the engine tests check each
        # interval on a fake clock).
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.9
        $times = Get-MailTimes
        ($times[-1] - $times[0]).TotalSeconds | Should -BeGreaterOrEqual (4 * 0.5 - 0.1)
    }

    It 'shows in progress how many went and when the next goes, and completes the progress at the end' {
        $ps = Start-Paced -PerMinute 60 -Count 3
        try {
            $out = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            @($out).Count | Should -Be 3
            $progress = @($ps.Streams.Progress)
            $waiting = @($progress | Where-Object { $_.RecordType -eq 'Processing' })
            # The turn counts from each MAIL, so messages 2 and 3 wait (for most of a second).
            $waiting.Count | Should -BeGreaterOrEqual 1
            $waiting[0].Activity | Should -Be 'Sending about 60 messages a minute'
            $waiting | ForEach-Object { $_.StatusDescription | Should -Match '^[12] handed to 127\.0\.0\.1; the next in 1 s$' }
            $waiting[0].CurrentOperation | Should -Match '^Next message at \d\d:\d\d:\d\d$'
            $progress[-1].RecordType | Should -Be 'Completed'
        }
        finally { $ps.Dispose() }
    }

    It 'stops at once on Ctrl+C while it waits for the next turn' {
        $ps = Start-Paced -PerMinute 1 -Count 3
        try {
            $async = $ps.BeginInvoke()
            $mock.WaitForMessages(1, 10000) | Should -BeTrue
            Start-Sleep -Milliseconds 300
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $mock.Messages.Count | Should -Be 1
        }
        finally { $ps.Dispose() }
    }

    It 'sends on a new connection when the server closed the idle one during the wait' {
        # 3 s apart against a 1 s idle timeout: the server has long closed by each next turn.
        $mock.Smtp.IdleTimeoutSeconds = 1
        $out = $rows | Select-Object -First 3 | Send-SmtpMessage @smtp -MaximumMessagesPerMinute 20 -ErrorVariable ev
        $ev.Count | Should -Be 0
        @($out).Count | Should -Be 3
        $mock.Messages.Count | Should -Be 3
        $mock.SmtpConnectionCount | Should -Be 3
        @($mock.SmtpSessions | Where-Object Error -eq 'Idle timeout').Count | Should -BeGreaterOrEqual 2
    }

    It 'leaves a pipeline unpaced without the parameter' {
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $out = $rows | Send-SmtpMessage @smtp
        $watch.Stop()
        @($out).Count | Should -Be 5
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 1.9
    }
}

Describe 'Exchange Online''s sending limits' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $smtp = @{ SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; From = 'ops@example.com' }
        $quotaText = '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException'
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    Context 'throttling (432 4.3.2)' {
        It 'retries with back-off, and sends once the server lets it' {
            $rule = $mock.ReplyTo('MAIL', '', '432 4.3.2 Concurrent connections limit exceeded.', 2)
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $out = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 1 -ErrorVariable ev
            $watch.Stop()
            $ev.Count | Should -Be 0
            $out.Attempts | Should -Be 3
            $rule.Hits | Should -Be 2
            $mock.Messages.Count | Should -Be 1
            $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 2.9 -Because 'it waits 1 s, then 2 s'
        }

        It 'retries a 432 that comes after the data, and delivers the message once' {
            $rule = $mock.ReplyTo('DOT', '', '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded.', 1)
            $out = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 0 -ErrorVariable ev
            $ev.Count | Should -Be 0
            $rule.Hits | Should -Be 1
            $out.Attempts | Should -Be 2
            $mock.Messages.Count | Should -Be 1
        }

        It 'goes on when another connection of the mailbox closes' {
            $mock.Smtp.MaxConcurrentSessions = 1
            $blocker = [Net.Sockets.TcpClient]::new($mock.Host, $mock.SmtpPort)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript({
                        param($ModulePath, $Smtp)
                        Import-Module $ModulePath
                        Send-SmtpMessage @Smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 1 -MaximumRetryCount 5
                    }).AddArgument($modulePath).AddArgument($smtp)
                $async = $ps.BeginInvoke()
                $deadline = [DateTime]::UtcNow.AddSeconds(10)
                while (-not ($mock.SmtpSessions | Where-Object { $_.Commands -like 'MAIL FROM:*' }) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
                Start-Sleep -Milliseconds 500
                $blocker.Dispose()
                $out = $ps.EndInvoke($async)
                $ps.Streams.Error.Count | Should -Be 0
                $out[0].Attempts | Should -BeGreaterThan 1
                $mock.Messages.Count | Should -Be 1
            }
            finally { $ps.Dispose(); $blocker.Dispose() }
        }

        It 'reports SubmissionThrottled, naming the limits, when the retries run out' {
            $mock.Smtp.MaxConcurrentSessions = 1
            $blocker = [Net.Sockets.TcpClient]::new($mock.Host, $mock.SmtpPort)
            try {
                $out = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 0 -MaximumRetryCount 2 -ErrorAction SilentlyContinue -ErrorVariable ev
            }
            finally { $blocker.Dispose() }
            $out | Should -BeNullOrEmpty
            $ev.Count | Should -Be 1
            $ev[0].FullyQualifiedErrorId | Should -Be 'SubmissionThrottled,MailProtocols.Commands.SendSmtpMessageCommand'
            $ev[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $ev[0].TargetObject | Should -Match '^<?[^@\s]+@[^>\s]+>?$' -Because 'the target is the Message-ID'
            $ev[0].Exception.Message | Should -Match '432 4\.3\.2 Concurrent connections limit exceeded\.'
            $ev[0].Exception.Message | Should -Match '-MaximumMessagesPerMinute'
            @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL FROM:*' }).Count | Should -Be 3
            $mock.Messages.Count | Should -Be 0
        }
    }

    Context 'the daily quota (554 5.2.0 SubmissionQuotaExceededException)' {
        It 'stops the command with SubmissionQuotaExceeded, and reports every row it did not send' {
            $mock.Smtp.DailyMessageQuota = 1
            $rows = 1..4 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
            $out = $rows | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable ev
            @($out).Count | Should -Be 1
            $out.Subject | Should -Be 'row 1'
            $mock.Messages.Count | Should -Be 1
            $ev.Count | Should -Be 3 -Because 'each of rows 2 to 4 has its error'
            $ev[0].FullyQualifiedErrorId | Should -Be 'SubmissionQuotaExceeded,MailProtocols.Commands.SendSmtpMessageCommand'
            $ev[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
            $ev[0].TargetObject.Subject | Should -Be 'row 2' -Because 'the row the server refused is the target'
            $ev[0].Exception.Message | Should -BeLike "*$quotaText*"
            $ev[0].Exception.Message | Should -Match 'sending limit for the day'
            foreach ($e in $ev | Select-Object -Skip 1) {
                ($e.FullyQualifiedErrorId -split ',')[0] | Should -BeIn 'SubmissionQuotaExceeded', 'NotSent'
                $e.CategoryInfo.Category | Should -Be 'LimitsExceeded'
            }
            # Rows the command did not even try are named by their NotSent error.
            $ev[-1].FullyQualifiedErrorId | Should -BeLike 'NotSent,*'
            $ev[-1].TargetObject.Subject | Should -Be 'row 4'
            # A daily quota is not retried.
            @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL FROM:*' }).Count | Should -BeLessOrEqual 3
        }

        It 'accounts for every row with CHUNKING, where many rows are handed over before the 554 is read' {
            $mock.Smtp.Chunking = $true
            $mock.Smtp.DailyMessageQuota = 2
            $rows = 1..40 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
            $out = $rows | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable ev
            @($out.Subject) | Should -Be @('row 1', 'row 2')
            $mock.Messages.Count | Should -Be 2
            $ev.Count | Should -Be 38 -Because 'each row not sent has its own error'
            @($ev.TargetObject.Subject) | Should -Be @(3..40 | ForEach-Object { "row $_" }) -Because 'each error names its own row, in order'
            foreach ($e in $ev) {
                ($e.FullyQualifiedErrorId -split ',')[0] | Should -BeIn 'SubmissionQuotaExceeded', 'NotSent'
                $e.CategoryInfo.Category | Should -Be 'LimitsExceeded'
            }
            $ev[0].FullyQualifiedErrorId | Should -BeLike 'SubmissionQuotaExceeded,*'
            $ev[-1].FullyQualifiedErrorId | Should -BeLike 'NotSent,*'
        }

        It 'sends nothing more once a reply read before a pacing wait shows the quota' {
            $mock.Smtp.DailyMessageQuota = 1
            # Row 2's refusal comes late: row 3's pacing wait is what reads it.
            $null = $mock.AddRule([MockMail.SmtpRule]@{ Command = 'DOT'; ArgumentContains = 'row 2'; Action = 'Delay'; DelayMs = 300; Times = 1 })
            $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
            $out = $rows | Send-SmtpMessage @smtp -MaximumMessagesPerMinute 120 -ErrorAction SilentlyContinue -ErrorVariable ev
            @($out.Subject) | Should -Be @('row 1')
            @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL FROM:*' }).Count | Should -Be 2
            $ev.Count | Should -Be 2
            $ev[0].FullyQualifiedErrorId | Should -BeLike 'SubmissionQuotaExceeded,*'
            $ev[1].FullyQualifiedErrorId | Should -BeLike 'NotSent,*'
            $ev[1].TargetObject.Subject | Should -Be 'row 3'
        }

        It 'takes the same 554 5.2.0 with another text (SendAs denied) as a refusal of that message only' {
            $null = $mock.ReplyTo('DOT', 'row 2', '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.', 1)
            $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
            $out = $rows | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable ev
            @($out.Subject) | Should -Be @('row 1', 'row 3')
            $ev.Count | Should -Be 1
            $ev[0].FullyQualifiedErrorId | Should -Be 'MessageRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 2
        }

        It 'ends a scheduled-task script with -ErrorAction Stop: exit code 1, the next line never runs' {
            $mock.Smtp.DailyMessageQuota = 1
            $run = Invoke-ScriptTask $mock @'
1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } } |
    Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -From ops@example.com -ErrorAction Stop | Out-Null
'NEXT-LINE-RAN'
'@
            $run.ExitCode | Should -Be 1 -Because $run.Output
            $run.NextLineRan | Should -BeFalse
            $run.Output | Should -Match 'SubmissionQuotaExceededException' -Because 'the error printed quotes the server'
            $mock.Messages.Count | Should -Be 1
        }

        It 'lets a scheduled-task script go on with -ErrorAction SilentlyContinue, the ErrorId in -ErrorVariable' {
            $mock.Smtp.DailyMessageQuota = 0
            $run = Invoke-ScriptTask $mock @'
Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -From ops@example.com -To a@example.com -Subject x -ErrorAction SilentlyContinue -ErrorVariable ev
"ok=$?"
"id=$($ev[0].FullyQualifiedErrorId)"
"count=$($ev.Count)"
'NEXT-LINE-RAN'
'@
            $run.ExitCode | Should -Be 0 -Because $run.Output
            $run.Lines | Should -Be @('ok=False', 'id=SubmissionQuotaExceeded,MailProtocols.Commands.SendSmtpMessageCommand', 'count=1', 'NEXT-LINE-RAN')
        }
    }
}

# Exchange Online refuses a connection at the greeting while the mailbox has more than 3 open:
# the connection is tried again with the send path's back-off; another 421 is not.
Describe 'Exchange Online''s connection limit at the greeting' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $smtp = @{ SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; From = 'ops@example.com' }
        $limit421 = '421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel'
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    It 'connects again with back-off after <Reply>, and sends once the server lets it' -ForEach @(
        @{ Reply = '421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel' }
        @{ Reply = '432 4.3.2 Concurrent connections limit exceeded.' }
    ) {
        $rule = $mock.ReplyThenClose('CONNECT', '', $Reply, 2)
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $out = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 1 -ErrorVariable ev -Verbose 4>&1
        $watch.Stop()
        $ev.Count | Should -Be 0
        @($out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Accepted | Should -Be 'a@example.com'
        @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'too many connections open' }).Count | Should -Be 2
        $rule.Hits | Should -Be 2
        @($mock.SmtpSessions).Count | Should -Be 3
        $mock.Messages.Count | Should -Be 1
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 2.9 -Because 'it waits 1 s, then 2 s'
    }

    It 'reports SubmissionThrottled when the retries run out, and NotSent for each row after it' {
        $null = $mock.ReplyThenClose('CONNECT', '', $limit421)
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
        $out = $rows | Send-SmtpMessage @smtp -RetryIntervalSec 0 -MaximumRetryCount 2 -ErrorAction SilentlyContinue -ErrorVariable ev
        $out | Should -BeNullOrEmpty
        @($mock.SmtpSessions).Count | Should -Be 3 -Because 'one connection and 2 retries, then the command takes no more work'
        $ev.Count | Should -Be 3
        $ev[0].FullyQualifiedErrorId | Should -Be 'SubmissionThrottled,MailProtocols.Commands.SendSmtpMessageCommand'
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
        $ev[0].TargetObject | Should -Be "$($mock.Host):$($mock.SmtpPort)"
        $ev[0].Exception.Message | Should -BeLike "*2 retries included*$limit421*"
        $ev[0].Exception.Message | Should -Match '3 connections per mailbox'
        @($ev | Select-Object -Skip 1 | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('NotSent', 'NotSent')
        @($ev | Select-Object -Skip 1 | ForEach-Object { $_.TargetObject.Subject }) | Should -Be @('row 2', 'row 3')
        $mock.Messages.Count | Should -Be 0
    }

    It 'does not retry another 421 (Postfix''s ''Service shutting down'')' {
        $null = $mock.ReplyThenClose('CONNECT', '', '421 4.3.2 Service shutting down')
        $null = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 0 -ErrorAction SilentlyContinue -ErrorVariable ev
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -Be 'ServerRefusedConnection,MailProtocols.Commands.SendSmtpMessageCommand'
        @($mock.SmtpSessions).Count | Should -Be 1
    }

    It 'gives each new connection -TimeoutSec for its greeting' {
        $null = $mock.ReplyThenClose('CONNECT', '', $limit421, 1)
        $null = $mock.NeverReply('CONNECT')
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $null = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 1 -TimeoutSec 2 -ErrorAction SilentlyContinue -ErrorVariable ev
        $watch.Stop()
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -Be 'ConnectTimeout,MailProtocols.Commands.SendSmtpMessageCommand'
        @($mock.SmtpSessions).Count | Should -Be 2 -Because 'a silent greeting is not the connection limit: it is not retried'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 6 -Because 'it waits 1 s, then 2 s for the second greeting'
    }

    It 'stops at once on Ctrl+C while it waits to connect again' {
        $rule = $mock.ReplyThenClose('CONNECT', '', $limit421)
        $stop = Measure-Stop -Script {
            param($Smtp)
            Send-SmtpMessage @Smtp -To 'a@example.com' -Subject 'x' -RetryIntervalSec 30
        } -ArgumentList @(, $smtp) -Until { $rule.Hits -ge 1 }
        $stop.Reached | Should -BeTrue
        $stop.Completed | Should -BeTrue
        $stop.Seconds | Should -BeLessThan 2
        $stop.State | Should -Be 'Stopped'
        $mock.Messages.Count | Should -Be 0
    }
}
