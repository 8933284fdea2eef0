# PowerShell's error contract, tested the way scheduled tasks run scripts: a child
# `pwsh -NonInteractive -File` with no preference variable set. Every failure must be an
# ordinary error with its stable ErrorId, so that -ErrorAction Stop ends the script (exit 1,
# the next line never runs), -ErrorAction SilentlyContinue prints nothing, -ErrorVariable holds
# the ErrorId, and $? is false.

BeforeDiscovery {
    # Each failure as a script line; the variables come from Invoke-ScriptTask.
    $failures = @(
        @{ Case = 'Send-SmtpMessage to a dead port'; ErrorId = 'ConnectFailed'; Command = 'SendSmtpMessageCommand'
            Line = 'Send-SmtpMessage -SmtpServer $Server -Port $DeadPort -From ops@example.com -To a@example.com -Subject x -TimeoutSec 5' }
        @{ Case = 'Send-SmtpMessage with a wrong password'; ErrorId = 'AuthenticationFailed'; Command = 'SendSmtpMessageCommand'
            Line = 'Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -Credential $Bad -From ops@example.com -To a@example.com -Subject x' }
        @{ Case = 'Send-SmtpMessage with no server'; ErrorId = 'NoSmtpServer'; Command = 'SendSmtpMessageCommand'
            Line = 'Send-SmtpMessage -From ops@example.com -To a@example.com -Subject x' }
        @{ Case = 'Get-Pop3Message from a dead port'; ErrorId = 'ConnectFailed'; Command = 'GetPop3MessageCommand'
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $DeadPort -Credential $Cred -TimeoutSec 5' }
        @{ Case = 'Get-Pop3Message with a wrong password'; ErrorId = 'AuthenticationFailed'; Command = 'GetPop3MessageCommand'
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Bad' }
        @{ Case = 'Send-SmtpMessage with a transcript that cannot be written'; ErrorId = 'TranscriptFailed'; Command = 'SendSmtpMessageCommand'
            Line = 'Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -From ops@example.com -To a@example.com -Subject x -TranscriptPath ./no-such-folder/t.log' }
        @{ Case = 'Get-Pop3Message with a transcript on a drive that does not exist'; ErrorId = 'TranscriptFailed'; Command = 'GetPop3MessageCommand'
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Cred -TranscriptPath Q:\logs\t.log' }
        @{ Case = 'Get-Pop3Message to a missing folder'; ErrorId = 'DestinationNotFound'; Command = 'GetPop3MessageCommand'
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Cred -Destination ./no-such-folder' }
        @{ Case = 'Get-Pop3Message with a token but no user name'; ErrorId = 'UserNameRequired'; Command = 'GetPop3MessageCommand'
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -AccessToken (ConvertTo-SecureString t -AsPlainText -Force)' }
        @{ Case = 'Remove-Pop3Message -Force on a dead port'; ErrorId = 'ConnectFailed'; Command = 'RemovePop3MessageCommand'
            Line = 'Remove-Pop3Message -Pop3Server $Server -Port $DeadPort -Credential $Cred -Uid u1 -Force -TimeoutSec 5' }
        @{ Case = 'Remove-Pop3Message that would have to ask'; ErrorId = 'ConfirmationRequired'; Command = 'RemovePop3MessageCommand'; Deletes = $true
            Line = 'Remove-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Cred -Uid $Uid' }
        @{ Case = 'Get-Pop3Message -Delete -Confirm, which cannot ask'; ErrorId = 'ConfirmationRequired'; Command = 'GetPop3MessageCommand'; Deletes = $true
            Line = 'Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Cred -Delete -Confirm' }
    )
}

Describe 'Scripts run as scheduled tasks' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $uid = @($mock.AddTestMessages('alice', 1))[0]
    }

    Context '<Case>' -ForEach $failures {
        It 'stops the script with -ErrorAction Stop: exit code 1, the next line never runs' {
            $run = Invoke-ScriptTask $mock "`$Uid = '$uid'`n$Line -ErrorAction Stop`n'NEXT-LINE-RAN'"
            $run.ExitCode | Should -Be 1 -Because $run.Output
            $run.NextLineRan | Should -BeFalse
            if ($Deletes) { $mock.GetMailbox('alice').Count | Should -Be 1 }
        }

        It 'prints nothing with -ErrorAction SilentlyContinue; -ErrorVariable holds the ErrorId; $? is false' {
            $body = "`$Uid = '$uid'`n$Line -ErrorAction SilentlyContinue -ErrorVariable ev`n" +
                "`"ok=`$?`"`n`"id=`$(`$ev[0].FullyQualifiedErrorId)`"`n`"count=`$(`$ev.Count)`"`n'NEXT-LINE-RAN'"
            $run = Invoke-ScriptTask $mock $body
            $run.ExitCode | Should -Be 0 -Because $run.Output
            $run.Lines | Should -Be @('ok=False', "id=$ErrorId,MailProtocols.Commands.$Command", 'count=1', 'NEXT-LINE-RAN')
            if ($Deletes) { $mock.GetMailbox('alice').Count | Should -Be 1 }
        }
    }

    It 'stops the script under $ErrorActionPreference = ''Stop'' too' {
        $run = Invoke-ScriptTask $mock "`$ErrorActionPreference = 'Stop'`nSend-SmtpMessage -SmtpServer `$Server -Port `$SmtpPort -SkipCertificateCheck -Credential `$Bad -From ops@example.com -To a@example.com`n'NEXT-LINE-RAN'"
        $run.ExitCode | Should -Be 1
        $run.NextLineRan | Should -BeFalse
        $run.Output | Should -Match 'refused the credentials'
    }

    It 'lets try/catch see the ErrorId and category' {
        $run = Invoke-ScriptTask $mock @'
try { Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -SkipCertificateCheck -Credential $Bad -ErrorAction Stop; 'not caught' }
catch { "caught $($_.FullyQualifiedErrorId) $($_.CategoryInfo.Category) $($_.TargetObject)" }
'@
        $run.Lines | Should -Be @('caught AuthenticationFailed,MailProtocols.Commands.GetPop3MessageCommand AuthenticationError alice')
    }

    It 'tells a catch block who already got a partly delivered message' {
        $null = $mock.ReplyTo('RCPT', 'b@', '550 5.1.1 No such user', -1)
        $run = Invoke-ScriptTask $mock @'
try { Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -From ops@example.com -To a@example.com, b@example.com, c@example.com -Subject x -ErrorAction Stop }
catch { "$($_.FullyQualifiedErrorId) target=$($_.TargetObject) delivered=$($_.Exception.Result.Accepted -join ',')" }
'NEXT-LINE-RAN'
'@
        $run.Lines | Should -Contain 'RecipientRejected,MailProtocols.Commands.SendSmtpMessageCommand target=b@example.com delivered=a@example.com,c@example.com'
        $mock.Messages.Count | Should -Be 1
        $mock.Messages[0].AcceptedRecipients | Should -Be @('a@example.com', 'c@example.com')
    }
}

Describe 'After a session failure the command takes no more work' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $mock.Users['alice'] -AsPlainText -Force))
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    It 'gives every later pipeline row its own NotSent error naming the row, and sends nothing' {
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
        $out = $rows | Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck -Credential $bad -From ops@example.com `
            -MaximumRetryCount 0 -ErrorAction SilentlyContinue -ErrorVariable ev
        $out | Should -BeNullOrEmpty
        @($ev.FullyQualifiedErrorId | ForEach-Object { ($_ -split ',')[0] }) | Should -Be @('AuthenticationFailed', 'NotSent', 'NotSent')
        $ev[1].TargetObject.Subject | Should -Be 'row 2'
        $ev[2].TargetObject.Subject | Should -Be 'row 3'
        $ev[1].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $ev[1].Exception.Message | Should -Match 'u2@example.com.*AuthenticationFailed'
        # The failed session is not tried again for each row.
        @($mock.SmtpSessions | Where-Object { $_.Commands -like 'AUTH*' }).Count | Should -Be 1
        $mock.Messages.Count | Should -Be 0
    }

    It 'takes a server that does not answer in time as a failed session: one Timeout, then NotSent, without waiting again' {
        $null = $mock.NeverReply('MAIL', -1)
        $rows = 1..3 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $rows | Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck -From ops@example.com -TimeoutSec 2 `
            -MaximumRetryCount 0 -ErrorAction SilentlyContinue -ErrorVariable ev | Out-Null
        $watch.Stop()
        @($ev.FullyQualifiedErrorId | ForEach-Object { ($_ -split ',')[0] }) | Should -Be @('Timeout', 'NotSent', 'NotSent')
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 4
        $mock.SmtpConnectionCount | Should -Be 1
    }

    It 'writes ConfirmationRequired in a host without a user interface, and deletes nothing' {
        $uids = $mock.AddTestMessages('alice', 1)
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($ModulePath, $Port, $Credential, $Uid)
                    Import-Module $ModulePath
                    Remove-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -SkipCertificateCheck -Credential $Credential -Uid $Uid -ErrorVariable ev -ErrorAction SilentlyContinue
                    $ev[0].FullyQualifiedErrorId
                }).AddArgument($modulePath).AddArgument($mock.Pop3Port).AddArgument($alice).AddArgument($uids[0])
            $ps.Invoke() | Should -Be 'ConfirmationRequired,MailProtocols.Commands.RemovePop3MessageCommand'
        }
        finally { $ps.Dispose() }
        $mock.GetMailbox('alice').Count | Should -Be 1
    }

    It 'goes on after a failure of one message (not of the session)' {
        $null = $mock.ReplyTo('MAIL', '', '550 5.7.1 Sender refused', 1)
        $rows = 1..2 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "row $_" } }
        $out = $rows | Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck -From ops@example.com `
            -ErrorAction SilentlyContinue -ErrorVariable ev
        @($ev.FullyQualifiedErrorId | ForEach-Object { ($_ -split ',')[0] }) | Should -Be @('SenderRejected')
        @($out).Count | Should -Be 1
        $mock.Messages.Count | Should -Be 1
    }
}
