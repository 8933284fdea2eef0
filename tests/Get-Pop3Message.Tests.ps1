Describe 'Get-Pop3Message' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $password = 'Secr3t!Pa55'
        $token = 'ya29.TestToken-abc123'
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        $fqid = ',MailProtocols.Commands.GetPop3MessageCommand'

        function Get-Pop { New-Pop3Parameters $mock $alice }

        function Get-Uids { @($mock.GetMailbox('alice').Uid) }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $pop = Get-Pop
        $watchFile = Join-Path $TestDrive "secrets-$([guid]::NewGuid().ToString('n')).log"
        $PSDefaultParameterValues = Enable-SecretWatch $watchFile
    }

    AfterEach {
        Assert-NoSecretLeft -Path $watchFile -Secret $password, $token, "`0alice`0$password"
    }

    Context 'listing and selection' {
        It 'lists headers only (TOP n 0) over STLS, one object per message' {
            $uids = $mock.AddTestMessages('alice', 3)
            $messages = Get-Pop3Message @pop
            $messages.Count | Should -Be 3
            $messages | ForEach-Object { $_.GetType().FullName | Should -Be 'MailProtocols.Engine.Pop3.Pop3Message' }
            $messages.Uid | Should -Be $uids
            $messages.Subject | Should -Be @('Test message 1', 'Test message 2', 'Test message 3')
            $messages[0].From | Should -Match 'sender1@example.com'
            $messages[0].To | Should -Match 'alice@example.com'
            $messages[0].MessageId | Should -Be '1.mock@example.com'
            $messages[0].Date | Should -Not -BeNullOrEmpty
            $messages.HeadersOnly | Should -Not -Contain $false
            $messages[0].TextBody | Should -BeNullOrEmpty
            $session = $mock.Pop3Sessions[0]
            $session.Tls | Should -BeTrue
            $session.Commands | Should -Contain 'TOP 1 0'
            $session.Commands | Where-Object { $_ -like 'RETR*' } | Should -BeNullOrEmpty
            $session.QuitReceived | Should -BeTrue
        }

        It 'downloads whole messages with -IncludeBody' {
            $null = $mock.AddMessage('alice', "From: a@example.com`r`nTo: alice@example.com`r`nSubject: full`r`n`r`nThe body.`r`n.leading dot line`r`n")
            $message = Get-Pop3Message @pop -IncludeBody
            $message.HeadersOnly | Should -BeFalse
            $message.TextBody | Should -Match 'The body\.'
            $message.TextBody | Should -Match '(?m)^\.leading dot line'
            $message.Message.GetType().FullName | Should -Be 'MimeKit.MimeMessage'
            $mock.Pop3Sessions[0].Commands | Should -Contain 'RETR 1'
        }

        It 'selects by -Uid and reports an unknown UID' {
            $uids = $mock.AddTestMessages('alice', 3)
            $messages = Get-Pop3Message @pop -Uid $uids[1], 'no-such-uid' -ErrorVariable err -ErrorAction SilentlyContinue
            $messages.Uid | Should -Be @($uids[1])
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "MessageNotFound$fqid"
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].TargetObject | Should -Be 'no-such-uid'
        }

        It 'selects the newest and the oldest N' {
            $uids = $mock.AddTestMessages('alice', 5)
            (Get-Pop3Message @pop -Newest 2).Uid | Should -Be $uids[3..4]
            (Get-Pop3Message @pop -Oldest 2).Uid | Should -Be $uids[0..1]
        }

        It 'refuses -Newest together with -Oldest' {
            { Get-Pop3Message @pop -Newest 1 -Oldest 1 -ErrorAction Stop } | Should -Throw -ErrorId "ConflictingSelection$fqid"
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'pipelines TOP commands when the server offers PIPELINING' {
            $null = $mock.AddTestMessages('alice', 10)
            Get-Pop3Message @pop | Out-Null
            $with = $mock.Pop3Sessions[0].RoundTrips
            $mock.Pop3.Pipelining = $false
            Get-Pop3Message @pop | Out-Null
            $without = $mock.Pop3Sessions[1].RoundTrips
            $with | Should -BeLessThan ($without - 5)
        }

        It 'pipelines RETR in a window when the server offers PIPELINING, and sends one at a time without it' {
            $null = $mock.AddTestMessages('alice', 600)
            @(Get-Pop3Message @pop -IncludeBody).Count | Should -Be 600
            $with = $mock.Pop3Sessions[0].RoundTrips
            $mock.Pop3.Pipelining = $false
            @(Get-Pop3Message @pop -IncludeBody).Count | Should -Be 600
            $without = $mock.Pop3Sessions[1].RoundTrips
            $with | Should -BeLessThan 60
            $without | Should -BeGreaterThan 600
        }

        It 'bounds the window by the sizes LIST gives: large messages are asked for one at a time' {
            $null = $mock.AddLargeMessage('alice', 3MB)
            $null = $mock.AddLargeMessage('alice', 3MB)
            $null = $mock.AddLargeMessage('alice', 3MB)
            $null = $mock.AddTestMessages('alice', 3)
            @(Get-Pop3Message @pop -Oldest 3 -IncludeBody).Count | Should -Be 3
            $large = $mock.Pop3Sessions[0].RoundTrips
            @(Get-Pop3Message @pop -Newest 3 -IncludeBody).Count | Should -Be 3
            $small = $mock.Pop3Sessions[1].RoundTrips
            # The small ones go out in one write, each large one waits for the one before.
            $large | Should -BeGreaterOrEqual ($small + 2)
        }

        It 'streams a listing of 10,000 messages: the first object comes before most TOP commands were sent, with progress' {
            $null = $mock.AddTestMessages('alice', 10000)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript({
                        param($ModulePath, $Pop, $Mock)
                        Import-Module $ModulePath
                        $count = 0
                        $topsAtFirst = -1
                        Get-Pop3Message @Pop | ForEach-Object {
                            if ($count++ -eq 0) { $topsAtFirst = @($Mock.Pop3Sessions[0].Commands -like 'TOP *').Count }
                        }
                        [pscustomobject]@{ Count = $count; TopsAtFirst = $topsAtFirst }
                    }).AddArgument($modulePath).AddArgument($pop).AddArgument($mock)
                $result = $ps.Invoke()
                $result.Count | Should -Be 1
                $result[0].Count | Should -Be 10000
                $result[0].TopsAtFirst | Should -BeGreaterThan 0
                $result[0].TopsAtFirst | Should -BeLessThan 1000
                @($mock.Pop3Sessions[0].Commands -like 'TOP *').Count | Should -Be 10000
                # Progress from the first message to the last, throttled as PowerShell's own
                # cmdlets do rather than a record per message.
                $progress = @($ps.Streams.Progress | Where-Object RecordType -EQ 'Processing')
                $progress[0].StatusDescription | Should -Be '1 of 10000 messages'
                $progress[-1].StatusDescription | Should -Be '10000 of 10000 messages'
                $progress[-1].PercentComplete | Should -Be 100
                $progress.Count | Should -BeLessThan 1000
                @($ps.Streams.Progress)[-1].RecordType | Should -Be 'Completed'
            }
            finally { $ps.Dispose() }
        }

        It 'shows a progress bar for more than a handful of messages: <Case>' -ForEach @(
            @{ Case = 'count and bytes when downloading'; Switches = @{ IncludeBody = $true }; Last = '^8 of 8 messages, \d+ of \d+ KB$' }
            @{ Case = 'the count only when reading headers'; Switches = @{}; Last = '^8 of 8 messages$' }
        ) {
            $null = $mock.AddTestMessages('alice', 8)
            $ps = [powershell]::Create()
            try {
                $null = $ps.AddScript({
                        param($ModulePath, $Pop, $Switches)
                        Import-Module $ModulePath
                        Get-Pop3Message @Pop @Switches
                    }).AddArgument($modulePath).AddArgument($pop).AddArgument($Switches)
                $output = $ps.Invoke()
                $output.Count | Should -Be 8
                $progress = @($ps.Streams.Progress | Where-Object RecordType -EQ 'Processing')
                $progress.Count | Should -BeGreaterOrEqual 2
                $progress[0].StatusDescription | Should -Match '^1 of 8 messages'
                $progress[-1].StatusDescription | Should -Match $Last
                $progress[-1].PercentComplete | Should -Be 100
            }
            finally { $ps.Dispose() }
        }

        It 'connects with implicit TLS' {
            $null = $mock.AddTestMessages('alice', 1)
            $pop.Port = $mock.Pop3sPort
            (Get-Pop3Message @pop -TlsMode Implicit).Count | Should -Be 1
            $mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
        }

        It 'logs in with an OAuth2 access token (XOAUTH2)' {
            $null = $mock.AddTestMessages('alice', 1)
            $pop.Remove('Credential')
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            $messages = @(Get-Pop3Message @pop -AccessToken $secure -UserName alice)
            $messages.Count | Should -Be 1
            $mock.Pop3Sessions[0].AuthMechanism | Should -Be 'XOAUTH2'
            $messages[0].AuthenticationMechanism | Should -Be 'XOAUTH2'
        }

        It 'logs in with USER/PASS, and with APOP when that is all the server offers' {
            $null = $mock.AddTestMessages('alice', 1)
            $mock.Pop3.SaslMechanisms = @()
            $messages = @(Get-Pop3Message @pop)
            $messages.Count | Should -Be 1
            $mock.Pop3Sessions[0].AuthMechanism | Should -Be 'USER'
            $messages[0].AuthenticationMechanism | Should -Be 'USER'
            $mock.Pop3.User = $false
            # Saved messages come from another path than listed ones.
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive "apop-$([guid]::NewGuid().ToString('n'))")
            $messages = @(Get-Pop3Message @pop -Destination $folder -Confirm:$false)
            $messages.Count | Should -Be 1
            $mock.Pop3Sessions[1].AuthMechanism | Should -Be 'APOP'
            $messages[0].AuthenticationMechanism | Should -Be 'APOP'
        }
    }

    Context 'saving to a folder' {
        It 'saves each message as <uid>.eml, byte for byte, and skips what is already saved' {
            $uids = $mock.AddTestMessages('alice', 3)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'inbox')
            $saved = Get-Pop3Message @pop -Destination $folder
            $saved.Count | Should -Be 3
            foreach ($i in 0..2) {
                $path = Join-Path $folder "$($uids[$i]).eml"
                $saved[$i].SavedPath | Should -Be $path
                [IO.File]::ReadAllBytes($path) | Should -Be $mock.GetMailbox('alice')[$i].Data
            }

            $null = $mock.AddTestMessages('alice', 1)
            $again = Get-Pop3Message @pop -Destination $folder
            @($again).Count | Should -Be 1
            ($mock.Pop3Sessions[1].Commands | Where-Object { $_ -like 'RETR*' }) | Should -Be @('RETR 4')
            Get-ChildItem $folder -Filter '*.partial' | Should -BeNullOrEmpty
        }

        It 'names files safely for any UID' {
            $null = $mock.AddMessage('alice', 'a/b:c*?<CON>.', [Text.Encoding]::ASCII.GetBytes("Subject: odd`r`n`r`nx`r`n"))
            $null = $mock.AddMessage('alice', 'con', [Text.Encoding]::ASCII.GetBytes("Subject: con`r`n`r`nx`r`n"))
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'odd')
            $saved = Get-Pop3Message @pop -Destination $folder
            $names = $saved.SavedPath | Split-Path -Leaf
            $names | Should -Be @('a_2Fb_3Ac_2A_3F_3C^c^o^n_3E..eml', '_con.eml')
        }

        It 'stops with SaveFailed, deleting nothing, when a message cannot be written' {
            $uids = $mock.AddTestMessages('alice', 2)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'blocked')
            # A folder where the temporary file must go makes creating that file fail.
            $null = New-Item -ItemType Directory -Path (Join-Path $folder "$($uids[1]).eml.partial")
            $err = { Get-Pop3Message @pop -Destination $folder -Delete -ErrorAction Stop | Out-Null } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "SaveFailed$fqid"
            $err.CategoryInfo.Category | Should -Be 'WriteError'
            $err.TargetObject | Should -Be (Join-Path $folder "$($uids[1]).eml")
            (Get-Uids) | Should -Be $uids
        }

        It 'writes DestinationNotFound for a folder that does not exist' {
            { Get-Pop3Message @pop -Destination (Join-Path $TestDrive 'missing') -ErrorAction Stop } | Should -Throw -ErrorId "DestinationNotFound$fqid"
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'streams a large message to disk intact' {
            $uid = $mock.AddLargeMessage('alice', 20MB)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'large')
            $saved = Get-Pop3Message @pop -Destination $folder -TimeoutSec 60
            $source = $mock.GetMailbox('alice')[0]
            $expected = if ($source.FilePath) { (Get-FileHash $source.FilePath).Hash } else { (Get-FileHash -InputStream ([IO.MemoryStream]::new($source.Data))).Hash }
            (Get-FileHash $saved.SavedPath).Hash | Should -Be $expected
            $saved.AttachmentNames.Count | Should -Be 1
        }
    }

    Context 'download and delete' {
        It 'deletes every downloaded message at QUIT with -Delete' {
            $null = $mock.AddTestMessages('alice', 3)
            $messages = Get-Pop3Message @pop -Delete
            @($messages.MarkedForDeletion) | Should -Be @($true, $true, $true)
            $mock.GetMailbox('alice').Count | Should -Be 0
            $mock.Pop3Sessions[0].Committed | Should -BeTrue
        }

        It 'saves, then deletes, with -Destination -Delete' {
            $uids = $mock.AddTestMessages('alice', 2)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'dd')
            Get-Pop3Message @pop -Destination $folder -Delete | Out-Null
            $mock.GetMailbox('alice').Count | Should -Be 0
            $uids | ForEach-Object { Join-Path $folder "$_.eml" | Should -Exist }
        }

        It 'deletes nothing when the connection drops mid-download, and leaves no partial file' {
            $uids = $mock.AddTestMessages('alice', 3)
            $null = $mock.Pop3CloseMidRetr('2', 20, 1)
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'drop')
            $err = { Get-Pop3Message @pop -Destination $folder -Delete -ErrorAction Stop | Out-Null } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "ConnectionLost$fqid"
            $err.CategoryInfo.Category | Should -Be 'ConnectionError'
            (Get-Uids) | Should -Be $uids
            Join-Path $folder "$($uids[0]).eml" | Should -Exist
            Join-Path $folder "$($uids[1]).eml" | Should -Not -Exist
            Get-ChildItem $folder -Filter '*.partial' | Should -BeNullOrEmpty

            # The next run skips what was saved, fetches the rest, and now deletes all three.
            Get-Pop3Message @pop -Destination $folder -Delete | Out-Null
            $mock.GetMailbox('alice').Count | Should -Be 0
            (Get-ChildItem $folder -Filter '*.eml').Count | Should -Be 3
        }

        It 'stops on Ctrl+C with received messages not yet made durable: deletes nothing, leaves no partial file' {
            $uids = $mock.AddTestMessages('alice', 3)
            $null = $mock.AddPop3Rule([MockMail.Pop3Rule]@{ Command = 'RETR'; ArgumentContains = '3'; Action = 'NeverReply' })
            $folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'stopped')
            $stop = Measure-Stop -Script {
                param($Port, $Credential, $Folder)
                Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $Credential -SkipCertificateCheck -TimeoutSec 60 -Destination $Folder -Delete
            } -ArgumentList $mock.Pop3Port, $alice, $folder.FullName -Until { Get-ChildItem $folder -Filter '*.partial' }
            $stop.Reached | Should -BeTrue
            $stop.Completed | Should -BeTrue
            (Get-Uids) | Should -Be $uids
            $mock.Pop3Sessions.Commands -like 'DELE*' | Should -BeNullOrEmpty
            Get-ChildItem $folder -Filter '*.partial' | Should -BeNullOrEmpty
            Get-ChildItem $folder -Filter '*.eml' | Should -BeNullOrEmpty
        }

        It 'keeps a message the server refuses to give (-ERR on RETR), and deletes the rest' {
            $uids = $mock.AddTestMessages('alice', 3)
            $null = $mock.Pop3ReplyTo('RETR', '2', '-ERR [SYS/TEMP] cannot read message', 1)
            $messages = Get-Pop3Message @pop -Delete -ErrorVariable err -ErrorAction SilentlyContinue
            $messages.Uid | Should -Be @($uids[0], $uids[2])
            $err[0].FullyQualifiedErrorId | Should -Be "MessageUnavailable$fqid"
            $err[0].TargetObject | Should -Be $uids[1]
            (Get-Uids) | Should -Be @($uids[1])
        }

        It 'deletes exactly the received messages on a server that renumbers at DELE' {
            $mock.Pop3.RenumberOnDele = $true
            $uids = $mock.AddTestMessages('alice', 4)
            $null = $mock.Pop3ReplyTo('RETR', '2', '-ERR [SYS/TEMP] cannot read message', 1)
            $messages = Get-Pop3Message @pop -Delete -ErrorAction SilentlyContinue
            $messages.Uid | Should -Be @($uids[0], $uids[2], $uids[3])
            (Get-Uids) | Should -Be @($uids[1])
        }

        It 'marks messages only after all of them were downloaded' {
            $null = $mock.AddTestMessages('alice', 3)
            Get-Pop3Message @pop -Delete | Out-Null
            $commands = $mock.Pop3Sessions[0].Commands
            $lastRetr = [array]::LastIndexOf($commands, ($commands -like 'RETR*')[-1])
            $firstDele = [array]::IndexOf($commands, ($commands -like 'DELE*')[0])
            $firstDele | Should -BeGreaterThan $lastRetr
        }

        It 'keeps a message whose DELE is refused, and says so' {
            $uids = $mock.AddTestMessages('alice', 2)
            $null = $mock.Pop3ReplyTo('DELE', '1', '-ERR cannot delete', 1)
            $messages = Get-Pop3Message @pop -Delete -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -Be "DeleteRefused$fqid"
            (Get-Uids) | Should -Be @($uids[0])
            @($messages.MarkedForDeletion) | Should -Be @($false, $true)
        }

        It 'counts only the DELEs the server accepted in its closing verbose line' {
            $uids = $mock.AddTestMessages('alice', 3)
            $null = $mock.Pop3ReplyTo('DELE', '2', '-ERR cannot delete', 1)
            $verbose = Get-Pop3Message @pop -Delete -Verbose -ErrorAction SilentlyContinue 4>&1 |
                Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
            (Get-Uids) | Should -Be @($uids[1])
            @($verbose.Message -like '*QUIT*deleted the*') | Should -Be @('Session ended with QUIT; the server deleted the 2 message(s) marked for deletion.')
        }

        It 'changes nothing with -WhatIf' {
            $null = $mock.AddTestMessages('alice', 2)
            Get-Pop3Message @pop -Delete -WhatIf | Out-Null
            $mock.GetMailbox('alice').Count | Should -Be 2
            $mock.Pop3Sessions[0].Commands | Where-Object { $_ -like 'DELE*' } | Should -BeNullOrEmpty
        }

        It 'shows the whole UID in its default table, and gives the subject the width there is' {
            $subject = 'A rather long subject line that goes on for a while, sixty-four characters'
            $raw = "From: Very Long Sender Name <sender.with.long.address@subdomain.example.com>`r`nTo: b@example.com`r`nSubject: $subject`r`n`r`nhi`r`n"
            $uid = 'a1b2c3d4e5f6a7b8c9d0-UIDL-000000042'
            $null = $mock.AddMessage('alice', $uid, [Text.Encoding]::ASCII.GetBytes($raw))
            $messages = Get-Pop3Message @pop
            $wide = $messages | Format-Table | Out-String -Width 200
            $wide | Should -Match ([regex]::Escape($uid))
            $wide | Should -Match ([regex]::Escape($subject))
            $narrow = $messages | Format-Table | Out-String -Width 80
            $narrow | Should -Match ([regex]::Escape($uid))
            $narrow | Should -Match 'A rather long subject'
        }

        It 'writes To, Cc and AttachmentNames so that Export-Csv turns them into text' {
            $raw = "From: a@example.com`r`nTo: b@example.com, c@example.com`r`nCc: d@example.com`r`nSubject: csv`r`nMIME-Version: 1.0`r`n" +
                "Content-Type: multipart/mixed; boundary=x`r`n`r`n--x`r`nContent-Type: text/plain`r`n`r`nhi`r`n" +
                "--x`r`nContent-Type: text/csv; name=one.csv`r`nContent-Disposition: attachment; filename=one.csv`r`n`r`n1`r`n" +
                "--x`r`nContent-Type: text/csv; name=two.csv`r`nContent-Disposition: attachment; filename=two.csv`r`n`r`n2`r`n--x--`r`n"
            $null = $mock.AddMessage('alice', $raw)
            $message = Get-Pop3Message @pop -IncludeBody
            $row = $message | Select-Object To, Cc, AttachmentNames | ConvertTo-Csv | ConvertFrom-Csv
            $row.To | Should -Be 'b@example.com; c@example.com'
            $row.Cc | Should -Be 'd@example.com'
            $row.AttachmentNames | Should -Be 'one.csv; two.csv'
            $message.To[1] | Should -Be 'c@example.com'
            $message.AttachmentNames.Count | Should -Be 2
        }

        It 'takes -Uid from the pipeline and reads the mailbox once, after the listing upstream ended' {
            $uids = $mock.AddTestMessages('alice', 3)
            $picked = Get-Pop3Message @pop | Where-Object Subject -EQ 'Test message 2' | Get-Pop3Message @pop -IncludeBody
            @($picked).Count | Should -Be 1
            $picked.Uid | Should -Be $uids[1]
            $picked.TextBody | Should -Match 'test message 2'
            $mock.Pop3ConnectionCount | Should -Be 2
            $mock.Pop3Sessions | ForEach-Object { $_.Committed | Should -BeTrue }
        }

        It 'reads and deletes nothing when nothing comes through the pipeline' {
            $uids = $mock.AddTestMessages('alice', 2)
            $none = Get-Pop3Message @pop | Where-Object Subject -EQ 'no such subject' | Get-Pop3Message @pop -Delete
            $none | Should -BeNullOrEmpty
            (Get-Uids) | Should -Be $uids
            $mock.Pop3ConnectionCount | Should -Be 1
        }

        It 'changes nothing on disk or on the server with -Destination -Delete -WhatIf' {
            $uids = $mock.AddTestMessages('alice', 2)
            $folder = (New-Item -ItemType Directory -Path (Join-Path $TestDrive "whatif-$([guid]::NewGuid().ToString('n'))")).FullName
            $listed = Get-Pop3Message @pop -Destination $folder -Delete -WhatIf
            @($listed.Uid) | Should -Be $uids
            @($listed.MarkedForDeletion) | Should -Be @($false, $false)
            @($listed | Where-Object SavedPath) | Should -BeNullOrEmpty
            Get-ChildItem $folder -Force | Should -BeNullOrEmpty
            (Get-Uids) | Should -Be $uids
            $mock.Pop3Sessions[0].Commands | Where-Object { $_ -like 'DELE*' -or $_ -like 'RETR*' } | Should -BeNullOrEmpty
        }
    }

    Context 'a certificate the system trusts' {
        It 'logs in over STLS when the certificate chains to a trusted CA, with no revocation server reachable' {
            # As for SMTP: a private CA trusted through SSL_CERT_FILE in a child pwsh.
            $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols POP3 Test CA')
            $now = [DateTimeOffset]::UtcNow
            $trusted = New-Object MockMail.MockServer
            try {
                $trusted.UseCertificate([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
                $trusted.Start()
                $null = $trusted.AddTestMessages('alice', 2)
                $bundle = Join-Path $TestDrive 'pop3-ca.pem'
                Set-Content -Path $bundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline
                $script = Join-Path $TestDrive 'pop3-trust.ps1'
                Set-Content $script @'
param($ModulePath, $Port, $Password)
Import-Module $ModulePath
$cred = [pscredential]::new('alice', (ConvertTo-SecureString $Password -AsPlainText -Force))
$ok = @(Get-Pop3Message -Pop3Server localhost -Port $Port -Credential $cred -UseSsl -ErrorAction Stop).Count
try { Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $cred -UseSsl -ErrorAction Stop | Out-Null; $wrong = 'accepted' } catch { $wrong = $_.FullyQualifiedErrorId }
[pscustomobject]@{ Count = $ok; WrongName = $wrong } | ConvertTo-Json -Compress
'@
                $saved = $env:SSL_CERT_FILE
                try {
                    $env:SSL_CERT_FILE = $bundle
                    $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script $modulePath $trusted.Pop3Port $trusted.Users['alice']
                }
                finally { $env:SSL_CERT_FILE = $saved }
                $result = ($json | Select-Object -Last 1) | ConvertFrom-Json
                $result.Count | Should -Be 2
                $result.WrongName | Should -Be "CertificateRejected$fqid"
                $trusted.Pop3Sessions[0].Tls | Should -BeTrue
            }
            finally { $trusted.Dispose() }
        }
    }

    Context 'errors' {
        It 'connects to the protocol''s port for the TLS mode when -Port is not given (<Mode>: <Port>)' -ForEach @(
            @{ Mode = 'Auto'; Port = 110 }, @{ Mode = 'StartTls'; Port = 110 }, @{ Mode = 'Implicit'; Port = 995 }
        ) {
            # Nothing listens on 127.0.0.2 here: the error names the endpoint that was tried.
            Get-Pop3Message -Pop3Server 127.0.0.2 -Credential $alice -TlsMode $Mode -TimeoutSec 5 -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].TargetObject | Should -Be "127.0.0.2:$Port"
        }

        It 'reports a wrong password as AuthenticationFailed' {
            $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
            $err = { Get-Pop3Message @pop -Credential $bad -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "AuthenticationFailed$fqid"
            $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
            $err.TargetObject | Should -Be 'alice'
        }

        It 'requires -UserName with -AccessToken' {
            $pop.Remove('Credential')
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            { Get-Pop3Message @pop -AccessToken $secure -ErrorAction Stop } | Should -Throw -ErrorId "UserNameRequired$fqid"
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'refuses a line break in the <Part> before connecting (USER/PASS would carry it as a command of its own)' -ForEach @(
            @{ Part = 'user name'; UserName = "alice`r`nDELE 1"; Password = 'Secr3t!Pa55' }
            @{ Part = 'password'; UserName = 'alice'; Password = "Secr3t!Pa55`n" }
        ) {
            # USER/PASS only: nothing else hides the line break in base64.
            $mock.Pop3.SaslMechanisms = [string[]]@()
            $odd = [pscredential]::new($UserName, (ConvertTo-SecureString $Password -AsPlainText -Force))
            Get-Pop3Message @pop -Credential $odd -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "CredentialHasLineBreak$fqid"
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err[0].Exception.Message | Should -Not -Match ([regex]::Escape('Secr3t'))
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'requires a credential' {
            $pop.Remove('Credential')
            { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -ErrorId "CredentialRequired$fqid"
        }

        It 'reports a mailbox locked by another session as MailboxLocked' {
            $null = $mock.AddTestMessages('alice', 1)
            $client = [System.Net.Sockets.TcpClient]::new($mock.Host, $mock.Pop3Port)
            try {
                $reader = [IO.StreamReader]::new($client.GetStream())
                $writer = [IO.StreamWriter]::new($client.GetStream()); $writer.NewLine = "`r`n"; $writer.AutoFlush = $true
                $null = $reader.ReadLine()
                $writer.WriteLine('USER alice'); $null = $reader.ReadLine()
                $writer.WriteLine("PASS $password"); $reader.ReadLine() | Should -Match '^\+OK'
                $err = { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -PassThru
                $err.FullyQualifiedErrorId | Should -Be "MailboxLocked$fqid"
                $err.CategoryInfo.Category | Should -Be 'ResourceBusy'
            }
            finally { $client.Dispose() }
        }

        It 'reports <Reply> to <Command> as <ErrorId> (<Category>), and deletes nothing' -ForEach @(
            @{ Command = 'LIST'; Reply = '-ERR [SYS/TEMP] busy'; ErrorId = 'ServerTemporaryFailure'; Category = 'ResourceUnavailable'; Target = 'endpoint' }
            @{ Command = 'LIST'; Reply = '-ERR [IN-USE] mailbox locked'; ErrorId = 'MailboxLocked'; Category = 'ResourceBusy'; Target = 'alice' }
            @{ Command = 'UIDL'; Reply = '-ERR [SYS/TEMP] busy'; ErrorId = 'ServerTemporaryFailure'; Category = 'ResourceUnavailable'; Target = 'endpoint' }
        ) {
            # RFC 3206 response codes name a state of the server or mailbox: the same errors as at
            # login, not a protocol violation (nor, for UIDL, a server without UIDL).
            $uids = $mock.AddTestMessages('alice', 2)
            $null = $mock.Pop3ReplyTo($Command, '', $Reply, -1)
            $err = { Get-Pop3Message @pop -IncludeBody -Delete -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "$ErrorId$fqid"
            $err.CategoryInfo.Category | Should -Be $Category
            $err.TargetObject | Should -Be $(if ($Target -eq 'endpoint') { "$($mock.Host):$($mock.Pop3Port)" } else { $Target })
            $err.Exception.Message | Should -Match ([regex]::Escape(($Reply -split '\] ', 2)[1]))
            $mock.Pop3Sessions[0].Commands | Where-Object { $_ -match '^(RETR|DELE)' } | Should -BeNullOrEmpty
            (Get-Uids) | Should -Be $uids
        }

        It 'never sends credentials in plain text unless allowed' {
            $mock.Pop3.Stls = $false
            $err = { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "UnencryptedAuthenticationRefused$fqid"
            $mock.Pop3Sessions[0].Commands | Where-Object { $_ -match '^(USER|PASS|AUTH|APOP)' } | Should -BeNullOrEmpty
            $null = $mock.AddTestMessages('alice', 1)
            (Get-Pop3Message @pop -AllowUnencryptedAuthentication).Count | Should -Be 1
        }

        It 'fails when STLS is required and not offered' {
            $mock.Pop3.Stls = $false
            { Get-Pop3Message @pop -UseSsl -ErrorAction Stop } | Should -Throw -ErrorId "StartTlsNotOffered$fqid"
        }

        It 'fails, never falls back to plain text, when advertised STLS is refused' {
            $mock.Pop3.StlsFails = $true
            { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -ErrorId "StartTlsFailed$fqid"
            $mock.Pop3Sessions[0].Commands | Where-Object { $_ -match '^(USER|PASS|AUTH)' } | Should -BeNullOrEmpty
        }

        It 'validates the certificate by default' {
            $pop.Remove('SkipCertificateCheck')
            { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -ErrorId "CertificateRejected$fqid"
        }

        It 'lists without UIDs on a server without UIDL, and refuses -Delete there' {
            $null = $mock.AddTestMessages('alice', 2)
            $mock.Pop3.Uidl = $false
            $messages = Get-Pop3Message @pop
            $messages.Count | Should -Be 2
            $messages | ForEach-Object { $_.Uid | Should -BeNullOrEmpty }
            { Get-Pop3Message @pop -IncludeBody -Delete -ErrorAction Stop } | Should -Throw -ErrorId "UidlNotSupported$fqid"
            $mock.GetMailbox('alice').Count | Should -Be 2
        }

        It 'reports TopNotSupported for header listing when the server has no TOP' {
            $null = $mock.AddTestMessages('alice', 1)
            $mock.Pop3.Top = $false
            $err = { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "TopNotSupported$fqid"
            $err.Exception.Message | Should -Match 'IncludeBody'
            (Get-Pop3Message @pop -IncludeBody).Count | Should -Be 1
        }

        It 'reports garbage from the server as a protocol error' {
            $null = $mock.AddTestMessages('alice', 1)
            $null = $mock.Pop3SendRaw('LIST', ('x' * 1MB), 1)
            $err = { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be "ProtocolViolation$fqid"
            $err.CategoryInfo.Category | Should -Be 'ProtocolError'
        }

        It 'times out on a silent server' {
            $null = $mock.Pop3NeverReply('LIST', -1)
            $pop.TimeoutSec = 2
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $err = { Get-Pop3Message @pop -ErrorAction Stop } | Should -Throw -PassThru
            $watch.Stop()
            $err.FullyQualifiedErrorId | Should -Be "Timeout$fqid"
            $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 4
        }

        It 'stops within a second on Ctrl+C mid-download and deletes nothing' {
            $uids = $mock.AddTestMessages('alice', 3)
            $null = $mock.Pop3NeverReply('RETR', -1)
            $stop = Measure-Stop -Script {
                param($Port, $Credential)
                Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $Credential -SkipCertificateCheck -TimeoutSec 60 -Delete
            } -ArgumentList $mock.Pop3Port, $alice -Until { $mock.Pop3Sessions.Commands -like 'RETR*' }
            $stop.Reached | Should -BeTrue
            $stop.Completed | Should -BeTrue
            $stop.Seconds | Should -BeLessThan 1
            (Get-Uids) | Should -Be $uids
        }

        It 'keeps secrets out of every stream, error and the transcript' {
            $null = $mock.AddTestMessages('alice', 1)
            $log = Join-Path $TestDrive 'pop3.log'
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'Wr0ng!Secret' -AsPlainText -Force))
            $captured = Invoke-Captured {
                Get-Pop3Message @pop -TranscriptPath $log
                $mock.Pop3.SaslMechanisms = @()
                Get-Pop3Message @pop -TranscriptPath $log
                try { Get-Pop3Message @pop -Credential $bad -TranscriptPath $log } catch { $_ }
                $mock.Pop3.SaslMechanisms = @('PLAIN', 'LOGIN', 'XOAUTH2')
                $p = Get-Pop; $p.Remove('Credential')
                Get-Pop3Message @p -AccessToken $secure -UserName alice -TranscriptPath $log
            }
            $captured.Records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Should -Not -BeNullOrEmpty
            $text = Get-Content $log -Raw
            $text | Should -Match 'PASS \*+'
            Assert-NoSecret -Text ($captured.Text + $text) -Secret $password, $token, 'Wr0ng!Secret', "`0alice`0$password"
        }
    }
}
