# Unattended use under faults and hostile input: Ctrl+C at every stage, injection attempts,
# parallel runspaces, and scheduled-task style scripts.

BeforeDiscovery {
    # Hostile or malformed values: each is pinned to its outcome. Refused: that ErrorId, before
    # any connection. Otherwise (attachment file names, which are data) sent, and encoded so
    # that it cannot add a header line or a protocol command.
    $crlf = "`r`n"
    $hostile = @(
        @{ Case = 'CRLF + Bcc in the subject'; Refused = 'InvalidSubject'; Parameters = @{ Subject = "Hi${crlf}Bcc: victim@evil.test" } }
        @{ Case = 'bare LF in the subject'; Refused = 'InvalidSubject'; Parameters = @{ Subject = "Hi`nX-Injected: 1" } }
        @{ Case = 'bare CR in the subject'; Refused = 'InvalidSubject'; Parameters = @{ Subject = "Hi`rX-Injected: 1" } }
        @{ Case = 'NUL in the subject'; Refused = 'InvalidSubject'; Parameters = @{ Subject = "Hi`0there" } }
        @{ Case = 'CRLF in a display name'; Refused = 'InvalidAddress'; Parameters = @{ To = "`"Eve${crlf}Bcc: victim@evil.test`" <a@example.com>" } }
        @{ Case = 'CRLF after an address'; Refused = 'InvalidAddress'; Parameters = @{ To = "a@example.com${crlf}RCPT TO:<victim@evil.test>" } }
        @{ Case = 'SMTP command in the sender'; Refused = 'InvalidAddress'; Parameters = @{ From = "ops@example.com>${crlf}RCPT TO:<victim@evil.test" } }
        @{ Case = 'NUL in an address'; Refused = 'InvalidAddress'; Parameters = @{ To = "a@exa`0mple.com" } }
        @{ Case = 'two @ signs'; Refused = 'InvalidAddress'; Parameters = @{ To = 'a@b@example.com' } }
        @{ Case = 'no domain'; Refused = 'InvalidAddress'; Parameters = @{ To = 'a@' } }
        @{ Case = 'no local part'; Refused = 'InvalidAddress'; Parameters = @{ To = '@example.com' } }
        @{ Case = 'spaces in the address'; Refused = 'InvalidAddress'; Parameters = @{ To = 'a b@example.com' } }
        @{ Case = 'group syntax'; Refused = 'InvalidAddress'; Parameters = @{ To = 'Team: a@example.com, b@example.com;' } }
        @{ Case = 'CRLF in a Cc'; Refused = 'InvalidAddress'; Parameters = @{ Cc = "c@example.com${crlf}X-Injected: 1" } }
        @{ Case = 'CRLF in a Reply-To'; Refused = 'InvalidAddress'; Parameters = @{ ReplyTo = "r@example.com${crlf}X-Injected: 1" } }
        @{ Case = 'header name with a colon'; Refused = 'InvalidHeaderName'; Parameters = @{ Header = @{ 'X-A: b' = 'c' } } }
        @{ Case = 'header name with a space'; Refused = 'InvalidHeaderName'; Parameters = @{ Header = @{ 'X A' = 'c' } } }
        @{ Case = 'header name with CRLF'; Refused = 'InvalidHeaderName'; Parameters = @{ Header = @{ "X-A${crlf}Bcc" = 'victim@evil.test' } } }
        @{ Case = 'header value with CRLF'; Refused = 'InvalidHeaderValue'; Parameters = @{ Header = @{ 'X-A' = "v${crlf}Bcc: victim@evil.test" } } }
        @{ Case = 'header value with NUL'; Refused = 'InvalidHeaderValue'; Parameters = @{ Header = @{ 'X-A' = "v`0w" } } }
        @{ Case = 'Bcc set through -Header'; Refused = 'ReservedHeader'; Parameters = @{ Header = @{ 'Bcc' = 'victim@evil.test' } } }
        @{ Case = 'Content-Type set through -Header'; Refused = 'ReservedHeader'; Parameters = @{ Header = @{ 'Content-Type' = 'text/html' } } }
        @{ Case = 'non-ASCII header name'; Refused = 'InvalidHeaderName'; Parameters = @{ Header = @{ 'X-Ünïcode' = 'v' } } }
        @{ Case = 'CRLF in an attachment file name'; Attachment = "report${crlf}Bcc: victim@evil.test.txt" }
        @{ Case = 'quote and semicolon in an attachment file name'; Attachment = 'a";filename="evil.exe.txt' }
    )
}

Describe 'Reliability and hostile input' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $mock.Users['alice'] -AsPlainText -Force))
        $smtp = @{ SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; TimeoutSec = 60; MaximumRetryCount = 0 }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    Context 'hostile input never becomes a header or a command' {
        It '<Case>' -ForEach $hostile {
            $send = @{ From = 'ops@example.com'; To = 'a@example.com'; Subject = 'hostile' }
            if ($Parameters) { foreach ($key in $Parameters.Keys) { $send[$key] = $Parameters[$key] } }
            if ($Attachment) {
                $path = Join-Path $TestDrive $Attachment
                Set-Content -LiteralPath $path -Value 'x'
                $send.Attachments = [WildcardPattern]::Escape($path)
            }

            $null = Send-SmtpMessage @smtp @send -ErrorVariable err -ErrorAction SilentlyContinue
            if ($Refused) {
                @($err.FullyQualifiedErrorId) | Should -Be @("$Refused,MailProtocols.Commands.SendSmtpMessageCommand")
                $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
                $mock.SmtpConnectionCount | Should -Be 0
                $mock.Messages.Count | Should -Be 0
            }
            else {
                $err | Should -BeNullOrEmpty
                $mock.Messages.Count | Should -Be 1
                # Sent: then safely encoded. No injected header, no extra recipient, no extra command.
                $raw = $mock.Messages[0].DataText
                $head = ($raw -split "`r`n`r`n", 2)[0]
                $head | Should -Not -Match '(?m)^(Bcc|X-Injected):'
                $raw | Should -Not -Match "`r(?!`n)"
                $mock.Messages[0].AcceptedRecipients | Should -Be @('a@example.com')
                $mock.SmtpSessions.Commands | Where-Object { $_ -match 'evil' } | Should -BeNullOrEmpty
                if ($Attachment) {
                    $parsed = ConvertFrom-RawMessage $mock.Messages[0].Data
                    @($parsed.Attachments).Count | Should -Be 1
                    @($parsed.Attachments)[0].FileName | Should -Be $Attachment
                }
            }
        }

        It 'refuses a UID that would inject a POP3 command' {
            $uids = $mock.AddTestMessages('alice', 1)
            $pop = New-Pop3Parameters $mock $alice
            Remove-Pop3Message @pop -Uid "$($uids[0])`r`nDELE 1" -Force -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidUid,MailProtocols.Commands.RemovePop3MessageCommand'
            $mock.Pop3ConnectionCount | Should -Be 0
            $mock.GetMailbox('alice').Count | Should -Be 1
        }
    }

    Context 'Ctrl+C at every stage stops within a second' {
        It 'Send-SmtpMessage waiting for <Stage>' -ForEach @(
            @{ Stage = 'the greeting'; Command = 'CONNECT'; Credential = $false }
            @{ Stage = 'the AUTH reply'; Command = 'AUTH'; Credential = $true }
            @{ Stage = 'the reply to the data'; Command = 'DOT'; Credential = $false }
        ) {
            $null = $mock.NeverReply($Command, -1)
            $stop = Measure-Stop -Script {
                param($Port, $Credential)
                $c = @{}; if ($Credential) { $c.Credential = $Credential }
                Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -SkipCertificateCheck -TimeoutSec 60 -From 'ops@example.com' -To 'a@example.com' @c
            } -ArgumentList $mock.SmtpPort, $(if ($Credential) { $alice }) -Until {
                $sessions = $mock.SmtpSessions
                if ($Command -eq 'CONNECT') { $sessions.Count -gt 0 }
                elseif ($Command -eq 'DOT') { $sessions.Transactions.Data.Count -gt 0 -or ($sessions.Commands -contains 'DATA' -and $mock.Messages.Count -eq 0 -and $sessions.Transactions.Count -gt 0) }
                else { $sessions.Commands -like "$Command*" }
            }
            $stop.Reached | Should -BeTrue
            $stop.Completed | Should -BeTrue
            $stop.Seconds | Should -BeLessThan 1
            $mock.Messages.Count | Should -Be 0
        }

        It 'Get-Pop3Message -Delete waiting for <Stage>, deleting nothing' -ForEach @(
            @{ Stage = 'the greeting'; Command = 'CONNECT' }
            @{ Stage = 'the login reply'; Command = 'AUTH' }
            @{ Stage = 'a DELE reply'; Command = 'DELE' }
            @{ Stage = 'the QUIT reply'; Command = 'QUIT' }
        ) {
            $uids = $mock.AddTestMessages('alice', 2)
            $null = $mock.Pop3NeverReply($Command, -1)
            $stop = Measure-Stop -Script {
                param($Port, $Credential)
                Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $Credential -SkipCertificateCheck -TimeoutSec 60 -Delete
            } -ArgumentList $mock.Pop3Port, $alice -Until {
                $sessions = $mock.Pop3Sessions
                if ($Command -eq 'CONNECT') { $sessions.Count -gt 0 } else { $sessions.Commands -like "$Command*" }
            }
            $stop.Reached | Should -BeTrue
            $stop.Completed | Should -BeTrue
            $stop.Seconds | Should -BeLessThan 1
            $null = $mock.WaitForIdle(5000)
            @($mock.GetMailbox('alice').Uid) | Should -Be $uids
        }
    }

    Context 'big inputs' {
        It 'sends one message to 10,000 recipients in one transaction' {
            $to = 1..10000 | ForEach-Object { "user$_@example.com" }
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To $to -Subject 'everyone'
            $result.Accepted.Count | Should -Be 10000
            $mock.Messages.Count | Should -Be 1
            $mock.Messages[0].AcceptedRecipients.Count | Should -Be 10000
            $mock.SmtpConnectionCount | Should -Be 1
        }
    }

    Context 'big inputs, continued' {
        It 'sends a 100 MB attachment intact' {
            $mock.Smtp.MaxSize = 0
            $file = Join-Path $TestDrive 'big100.bin'
            $bytes = [byte[]]::new(1MB); [Random]::new(7).NextBytes($bytes)
            $stream = [IO.File]::Create($file); 1..100 | ForEach-Object { $stream.Write($bytes, 0, $bytes.Length) }; $stream.Dispose()
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Subject 'big' -Attachments $file
            $result.Accepted | Should -Be @('a@example.com')
            $parsed = ConvertFrom-RawMessage $mock.Messages[0].Data
            $content = [IO.MemoryStream]::new()
            @($parsed.Attachments)[0].Content.DecodeTo($content)
            $content.Length | Should -Be 100MB
            $expected = (Get-FileHash $file).Hash
            $content.Position = 0
            (Get-FileHash -InputStream $content).Hash | Should -Be $expected
        }

        It 'sends 5,000 piped messages over one connection, each exactly once' {
            $mock.DeliverToMailboxes = $false
            $results = 1..5000 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "bulk $_" } } |
                Send-SmtpMessage @smtp -From 'bulk@example.com'
            @($results).Count | Should -Be 5000
            $mock.Messages.Count | Should -Be 5000
            $mock.SmtpConnectionCount | Should -Be 1
            ($mock.Messages.AcceptedRecipients | Sort-Object -Unique).Count | Should -Be 5000
        }
    }

    Context 'parallel runspaces' {
        It 'four runspaces sending and fetching at once deliver every message exactly once' {
            $jobs = 1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:modulePath
                $n = $_
                $cred = $using:alice
                $sent = 1..5 | ForEach-Object { [pscustomobject]@{ To = 'alice@example.com'; Subject = "parallel $n.$_" } } |
                    Send-SmtpMessage -SmtpServer 127.0.0.1 -Port ($using:mock).SmtpPort -SkipCertificateCheck -Credential $cred -From "runspace$n@example.com"
                $ids = @()
                try {
                    $listed = @(Get-Pop3Message -Pop3Server 127.0.0.1 -Port ($using:mock).Pop3Port -Credential $cred -SkipCertificateCheck -ErrorAction Stop)
                }
                catch {
                    $listed = @()
                    $ids += $_.FullyQualifiedErrorId
                }
                [pscustomobject]@{ Runspace = $n; Sent = @($sent).Count; Listed = $listed.Count; Ids = $ids }
            }
            # Four sessions at once on one mailbox: the server lets one in at a time; the others get
            # the clear MailboxLocked error, and nothing else goes wrong.
            $jobs.Ids | Where-Object { $_ -notlike 'MailboxLocked,*' } | Should -BeNullOrEmpty
            ($jobs | Where-Object Listed -GT 0).Count | Should -BeGreaterThan 0
            ($jobs.Sent | Measure-Object -Sum).Sum | Should -Be 20
            $subjects = $mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Subject' }
            $subjects.Count | Should -Be 20
            ($subjects | Sort-Object -Unique).Count | Should -Be 20
            $mock.GetMailbox('alice').Count | Should -Be 20
        }
    }

    Context 'scheduled-task style scripts (pwsh -NonInteractive -File, no preference set)' {
        It 'exits 0 after sending an alert and fetching mail' {
            $result = Invoke-ScriptTask $mock @'
Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -Credential $Cred -From 'task@example.com' -To 'alice@example.com' -Subject 'nightly' -ErrorAction Stop | Out-Null
Get-Pop3Message -Pop3Server $Server -Port $Pop3Port -Credential $Cred -SkipCertificateCheck -Delete -ErrorAction Stop | Out-Null
'NEXT-LINE-RAN'
'@
            $result.ExitCode | Should -Be 0 -Because $result.Output
            $result.NextLineRan | Should -BeTrue
            $mock.Messages.Count | Should -Be 1
            $mock.GetMailbox('alice').Count | Should -Be 0
        }

        It 'exits 1 when the server refuses the login' {
            $result = Invoke-ScriptTask $mock @'
Send-SmtpMessage -SmtpServer $Server -Port $SmtpPort -SkipCertificateCheck -Credential $Bad -From 'task@example.com' -To 'alice@example.com' -Subject 'nightly' -ErrorAction Stop
'NEXT-LINE-RAN'
'@
            $result.ExitCode | Should -Be 1
            $result.NextLineRan | Should -BeFalse
            $result.Output | Should -Match 'refused the credentials'
        }

        It 'fails with a clear error naming -Force, and deletes nothing, when Remove-Pop3Message would have to ask' {
            $uids = $mock.AddTestMessages('alice', 1)
            $result = Invoke-ScriptTask $mock ("Remove-Pop3Message -Pop3Server `$Server -Port `$Pop3Port -Credential `$Cred -SkipCertificateCheck -Uid '" + $uids[0] + "' -ErrorAction Stop`n'NEXT-LINE-RAN'")
            $result.ExitCode | Should -Be 1
            $result.NextLineRan | Should -BeFalse
            $result.Output | Should -Match 'NonInteractive'
            $result.Output | Should -Match '-Force'
            $result.Output | Should -Match 'Confirm:\$false'
            $mock.GetMailbox('alice').Count | Should -Be 1
        }

        It 'never prompts with -Force and deletes' {
            $uids = $mock.AddTestMessages('alice', 1)
            $result = Invoke-ScriptTask $mock ("Remove-Pop3Message -Pop3Server `$Server -Port `$Pop3Port -Credential `$Cred -SkipCertificateCheck -Force -Uid '" + $uids[0] + "' -ErrorAction Stop")
            $result.ExitCode | Should -Be 0 -Because $result.Output
            $mock.GetMailbox('alice').Count | Should -Be 0
        }
    }
}
