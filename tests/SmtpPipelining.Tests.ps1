Describe 'Send-SmtpMessage: pipelining and chunking' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer

        function Get-Smtp {
            @{
                SmtpServer           = $mock.Host
                Port                 = $mock.SmtpPort
                SkipCertificateCheck = $true
                MaximumRetryCount    = 2
                RetryIntervalSec     = 0
                TimeoutSec           = 3
                From                 = 'ops@example.com'
            }
        }

        function Get-Rows([int] $Count) {
            1..$Count | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "row $_"; Body = "Message $_" } }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $smtp = Get-Smtp
    }

    Context 'the server offers <Name>' -ForEach @(
        @{ Name = 'PIPELINING and CHUNKING'; Pipelining = $true; Chunking = $true; Verb = 'BDAT' }
        @{ Name = 'PIPELINING only'; Pipelining = $true; Chunking = $false; Verb = 'DATA' }
        @{ Name = 'CHUNKING only'; Pipelining = $false; Chunking = $true; Verb = 'BDAT' }
        @{ Name = 'neither'; Pipelining = $false; Chunking = $false; Verb = 'DATA' }
    ) {
        BeforeEach {
            $mock.Smtp.Pipelining = $Pipelining
            $mock.Smtp.Chunking = $Chunking
        }

        It 'sends 20 rows on one connection, results in input order, each message once' {
            $results = Get-Rows 20 | Send-SmtpMessage @smtp

            $results.Subject | Should -Be (1..20 | ForEach-Object { "row $_" })
            $null = $mock.WaitForIdle(5000)
            $mock.SmtpSessions.Count | Should -Be 1
            $mock.Messages.Count | Should -Be 20
            foreach ($n in 1..20) { @($mock.Messages | Where-Object DataText -Match "(?m)^Subject: row $n\r?$").Count | Should -Be 1 }
            @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like "$Verb *" -or $_ -eq $Verb }).Count | Should -Be 20
            # Without PIPELINING, never a command sent before the previous reply came.
            if (-not $Pipelining) { $mock.SmtpSessions[0].UnallowedPipelining | Should -Be 0 }
        }

        It 'keeps partial rejection per message: the refused recipient reported, the others delivered' {
            $null = $mock.ReplyTo('RCPT', 'b@', '550 5.1.1 No such user', -1)
            $rows = [pscustomobject]@{ To = 'a@example.com', 'b@example.com'; Subject = 'one' }, [pscustomobject]@{ To = 'c@example.com'; Subject = 'two' }
            $results = $rows | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable errors

            $results.Subject | Should -Be @('one', 'two')
            $results[0].Accepted | Should -Be @('a@example.com')
            $results[0].Rejected.Address | Should -Be @('b@example.com')
            @($errors.FullyQualifiedErrorId) | Should -Be @('RecipientRejected,MailProtocols.Commands.SendSmtpMessageCommand')
            $mock.Messages.Count | Should -Be 2
            $mock.Messages[0].AcceptedRecipients | Should -Be @('a@example.com')
        }

        It 'retries a 4xx final reply (nothing was delivered) and delivers once; the next row is unaffected' {
            $null = $mock.ReplyTo('DOT', 'Subject: row 1', '451 4.3.0 Try later', 1)
            $results = Get-Rows 3 | Send-SmtpMessage @smtp

            $results.Subject | Should -Be @('row 1', 'row 2', 'row 3')
            $results[0].Attempts | Should -Be 2
            $results[1].Attempts | Should -Be 1
            $null = $mock.WaitForIdle(5000)
            @($mock.Messages | Where-Object DataText -Match '(?m)^Subject: row 1').Count | Should -Be 1
            $mock.Messages.Count | Should -Be 3
        }

        It 'reports DeliveryUnknown when the connection is lost after the whole data went, never sends it again, and sends the next row on a new connection' {
            $null = $mock.CloseOn('DOT', 'Subject: row 2', 1)
            $results = Get-Rows 3 | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable errors

            $ids = @($errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] })
            # With BDAT pipelined, row 3's data may have gone out behind row 2's, unanswered: it is
            # DeliveryUnknown too. Without that, row 3 goes on a new connection.
            if ($Pipelining -and $Chunking) {
                $ids | Should -Be @('DeliveryUnknown', 'DeliveryUnknown')
                $results.Subject | Should -Be @('row 1')
            }
            else {
                $ids | Should -Be @('DeliveryUnknown')
                $results.Subject | Should -Be @('row 1', 'row 3')
                $mock.SmtpSessions.Count | Should -Be 2
            }

            $null = $mock.WaitForIdle(5000)
            $sent = @($mock.SmtpSessions.Transactions | Where-Object { $null -ne $_.Data })
            foreach ($n in 1..3) { @($sent | Where-Object DataText -Match "(?m)^Subject: row $n\r?$").Count | Should -BeLessOrEqual 1 }
            @($sent | Where-Object DataText -Match '(?m)^Subject: row 2').Count | Should -Be 1
        }

        It 'a failure of one message leaves no later message delivered but unreported' {
            # Row 2's sender is refused for good (the first MAIL uses up a no-op rule); rows 3 and 4
            # may already be on the wire.
            $null = $mock.Delay('MAIL', 0, 1)
            $null = $mock.ReplyTo('MAIL', '', '550 5.7.1 Sender refused', 1)
            $results = Get-Rows 4 | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable errors

            @($errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('SenderRejected')
            $results.Subject | Should -Be @('row 1', 'row 3', 'row 4')
            $null = $mock.WaitForIdle(5000)
            $mock.Messages.Count | Should -Be 3
        }

        It 'with -ErrorAction Stop, still reports every message sent behind the one that failed' {
            # Row 2's sender is refused, and its RCPT reply comes late: with PIPELINING and
            # CHUNKING, rows 3 and 4 are on the wire (and delivered) before row 2's outcome is
            # known; otherwise row 2 fails before row 3 goes, and the command stops there.
            $null = $mock.Delay('MAIL', 0, 1)
            $null = $mock.ReplyTo('MAIL', '', '550 5.7.1 Sender refused', 1)
            $null = $mock.AddRule([MockMail.SmtpRule]@{ Command = 'RCPT'; ArgumentContains = 'user2@'; Action = 'Delay'; DelayMs = 500; Times = 1 })
            $out = [Collections.Generic.List[object]]::new()
            $thrown = $null
            try { Get-Rows 4 | Send-SmtpMessage @smtp -ErrorAction Stop | ForEach-Object { $out.Add($_) } }
            catch { $thrown = $_ }

            ($thrown.FullyQualifiedErrorId -split ',')[0] | Should -Be 'SenderRejected'
            $null = $mock.WaitForIdle(5000)
            $expected = if ($Pipelining -and $Chunking) { @('row 1', 'row 3', 'row 4') } else { @('row 1') }
            @($mock.Messages | ForEach-Object { if ($_.DataText -match '(?m)^Subject: (row \d+)') { $Matches[1] } }) | Should -Be $expected
            # Every delivered message has its result object, in order, written before the error.
            $out.Subject | Should -Be $expected
        }

        It 'with -ErrorAction Stop and a recipient refused in row 1, still reports every message delivered behind it' {
            # Row 1's final reply comes late, so the later rows are on the wire when its
            # RecipientRejected error stops the command.
            $null = $mock.Delay('DOT', 300, 1)
            $null = $mock.ReplyTo('RCPT', 'refused@', '550 5.1.1 No such user', -1)
            $rows = @([pscustomobject]@{ To = 'a@example.com', 'refused@example.com'; Subject = 'row 1' }) + @(Get-Rows 4 | Select-Object -Skip 1)
            $out = [Collections.Generic.List[object]]::new()
            $thrown = $null
            try { $rows | Send-SmtpMessage @smtp -ErrorAction Stop | ForEach-Object { $out.Add($_) } }
            catch { $thrown = $_ }

            ($thrown.FullyQualifiedErrorId -split ',')[0] | Should -Be 'RecipientRejected'
            $null = $mock.WaitForIdle(5000)
            $delivered = @($mock.Messages | ForEach-Object { if ($_.DataText -match '(?m)^Subject: (row \d+)') { $Matches[1] } })
            $delivered[0] | Should -Be 'row 1'
            $out.Subject | Should -Be $delivered
        }
    }

    It 'sends MAIL, RCPT and BDAT LAST with the data for every message without waiting for a reply in between' {
        $mock.Smtp.Chunking = $true
        # Each final reply comes half a second late: a client that waited for it before the next
        # message would show its reply in the transcript before the next BDAT.
        $null = $mock.Delay('DOT', 500, -1)
        $log = Join-Path $TestDrive 'pipelined.log'
        $results = Get-Rows 6 | Send-SmtpMessage @smtp -TlsMode None -TranscriptPath $log -TimeoutSec 10

        $results.Count | Should -Be 6
        $lines = @(Get-Content $log)
        $bdat = @(0..($lines.Count - 1) | Where-Object { $lines[$_] -match 'C: BDAT \d+ LAST' })
        $queued = @(0..($lines.Count - 1) | Where-Object { $lines[$_] -match 'S: 250 .*queued' })
        $bdat.Count | Should -Be 6
        $queued.Count | Should -Be 6
        $bdat[-1] | Should -BeLessThan $queued[0]
        @($lines | Where-Object { $_ -match 'C: DATA' }).Count | Should -Be 0
        # Each chunk is summarized, without the "." line that only DATA has.
        @($lines | Where-Object { $_ -match '\[\d+ bytes of message data\]' }).Count | Should -Be 6
        @($lines | Where-Object { $_ -match 'C: \.$' }).Count | Should -Be 0
    }

    It 'retries a 4xx to BDAT only because nothing was delivered: the message goes once' {
        $mock.Smtp.Chunking = $true
        $null = $mock.ReplyTo('BDAT', '', '452 4.3.1 Insufficient system storage', 1)
        $result = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'bdat'

        $result.Attempts | Should -Be 2
        $null = $mock.WaitForIdle(5000)
        $mock.Messages.Count | Should -Be 1
    }

    It 'gives DeliveryUnknown, not a retry, when the connection breaks after BDAT LAST and its data went out' {
        $mock.Smtp.Chunking = $true
        $null = $mock.CloseOn('DOT', '', 1)
        $err = { Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'bdat' -ErrorAction Stop } | Should -Throw -PassThru

        $err.FullyQualifiedErrorId | Should -Be 'DeliveryUnknown,MailProtocols.Commands.SendSmtpMessageCommand'
        $null = $mock.WaitForIdle(5000)
        $mock.SmtpSessions.Count | Should -Be 1
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'BDAT *' }).Count | Should -Be 1
    }

    It 'serializes once: the SIZE announced, the BDAT count and the data received agree' {
        $mock.Smtp.Chunking = $true
        $result = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'size' -Body ('x' * 5000)

        $null = $mock.WaitForIdle(5000)
        $tx = $mock.SmtpSessions[0].Transactions[0]
        [long]$tx.MailParameters['SIZE'] | Should -Be $tx.Data.Length
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -eq "BDAT $($tx.Data.Length) LAST" }).Count | Should -Be 1
        $result.Size | Should -Be $tx.Data.Length
    }

    It 'gives DeliveryUnknown for a BDAT message of 200 KB (its data goes in its own write) when the connection breaks after the data, and sends it once' {
        $mock.Smtp.Chunking = $true
        $null = $mock.CloseOn('DOT', '', 1)
        $err = { Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'big' -Body ('x' * 200KB) -ErrorAction Stop } | Should -Throw -PassThru

        $err.FullyQualifiedErrorId | Should -Be 'DeliveryUnknown,MailProtocols.Commands.SendSmtpMessageCommand'
        $null = $mock.WaitForIdle(5000)
        @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'BDAT *' }).Count | Should -Be 1
        @($mock.SmtpSessions.Transactions | Where-Object { $null -ne $_.Data }).Count | Should -Be 1
    }

    It 'never sends a message unauthenticated when authentication fails on a reconnect: the queued messages fail instead' {
        $mock.Smtp.Chunking = $true
        $cred = [pscredential]::new('alice', (ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force))
        # Rows 2-4 get a 4xx for their recipient; the fourth BDAT's reply closes the connection,
        # so their retries wait for a new connection, whose AUTH fails.
        foreach ($n in 2..4) { $null = $mock.ReplyTo('RCPT', "user$n@", '450 4.2.0 busy', 1) }
        $null = $mock.Delay('BDAT', 0, 3)
        $null = $mock.ReplyThenClose('BDAT', $null, '554 5.5.1 No valid recipients', 1)
        $null = $mock.Delay('AUTH', 0, 1)
        $null = $mock.ReplyTo('AUTH', $null, '454 4.7.0 Temporary authentication failure', 1)
        $results = Get-Rows 4 | Send-SmtpMessage @smtp -Credential $cred -ErrorAction SilentlyContinue -ErrorVariable errors

        $null = $mock.WaitForIdle(5000)
        @($errors | Where-Object { $_.FullyQualifiedErrorId -like 'Authentication*' }).Count | Should -BeGreaterThan 0
        @($mock.SmtpSessions.Transactions | Where-Object { -not $_.AuthUser }).Count | Should -Be 0
        @($results).Count + @($errors).Count | Should -BeGreaterOrEqual 4
    }

    It 'retries, like the DATA path, a message whose MAIL got 421 before the server closed the connection (BDAT)' {
        $mock.Smtp.Chunking = $true
        $null = $mock.ReplyThenClose('MAIL', $null, '421 4.3.2 Shutting down', 1)
        $result = Send-SmtpMessage @smtp -To 'a@example.com' -Subject 'b'

        $result.Attempts | Should -Be 2
        $null = $mock.WaitForIdle(5000)
        $mock.Messages.Count | Should -Be 1
    }

    It 'reconnects, spending no attempt, when the server closed the idle connection (421) between two slow rows' -ForEach @(
        @{ Chunking = $true }, @{ Chunking = $false }
    ) {
        $mock.Smtp.Chunking = $Chunking
        $mock.Smtp.IdleTimeoutSeconds = 1
        $smtp.MaximumRetryCount = 0
        $results = & { [pscustomobject]@{ To = 'a@example.com'; Subject = 'row 1' }; Start-Sleep -Milliseconds 2500; [pscustomobject]@{ To = 'b@example.com'; Subject = 'row 2' } } |
            Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable errors

        $errors.Count | Should -Be 0
        $results.Subject | Should -Be @('row 1', 'row 2')
        $results[1].Attempts | Should -Be 1
        $mock.SmtpConnectionCount | Should -Be 2
    }

    It 'sends each row at once, not when the next row comes (server offers <Name>)' -ForEach @(
        @{ Name = 'PIPELINING only'; Chunking = $false }, @{ Name = 'PIPELINING and CHUNKING'; Chunking = $true }
    ) {
        $mock.Smtp.Chunking = $Chunking
        $script:seen = $null
        $null = & { [pscustomobject]@{ To = 'a@example.com'; Subject = 'row 1' }; $null = $mock.WaitForMessages(1, 3000); $script:seen = $mock.Messages.Count; [pscustomobject]@{ To = 'b@example.com'; Subject = 'row 2' } } |
            Send-SmtpMessage @smtp -TimeoutSec 10
        $script:seen | Should -Be 1
    }

    It 'never lets a message join the transaction of one whose BDAT LAST was refused, on a server that keeps that transaction open' {
        $mock.Smtp.Chunking = $true
        $mock.Smtp.KeepTransactionAfterFailedBdat = $true
        $null = $mock.ReplyTo('RCPT', 'user1@', '550 5.1.1 No such user', 1)
        $null = $mock.Delay('DOT', 300, 1)
        $results = Get-Rows 3 | Send-SmtpMessage @smtp -ErrorAction SilentlyContinue -ErrorVariable errors

        @($errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('AllRecipientsRejected')
        $results.Subject | Should -Be @('row 2', 'row 3')
        $null = $mock.WaitForIdle(5000)
        @($mock.Messages | ForEach-Object { "$($_.AcceptedRecipients)" }) | Should -Be @('user2@example.com', 'user3@example.com')
    }

    It 'writes each message in one piece when the 100 outstanding replies bind: no reply is read between its commands' {
        $mock.Smtp.Chunking = $true
        # The first final reply comes late: 25 messages of 4 replies each fill the 100 outstanding
        # before any reply is read, so every later message must first make room.
        $null = $mock.Delay('DOT', 500, 1)
        $log = Join-Path $TestDrive 'one-write.log'
        $results = Get-Rows 40 | Send-SmtpMessage @smtp -TlsMode None -TranscriptPath $log -TimeoutSec 10

        $results.Count | Should -Be 40
        # Commands are logged as they are queued and replies as they are read, and a read writes
        # what is queued: a reply line between a message's first command and its BDAT is a write
        # that split the message.
        $inMessage = $false; $split = 0; $messages = 0
        foreach ($line in Get-Content $log) {
            if ($line -match ' C: (RSET|MAIL FROM)') { $inMessage = $true }
            elseif ($line -match ' C: BDAT ') { $inMessage = $false; $messages++ }
            elseif ($inMessage -and $line -match ' S: ') { $split++ }
        }
        $messages | Should -Be 40
        $split | Should -Be 0
    }

    It 'keeps at most 100 replies outstanding, however many recipients a message has (<Verb>)' -ForEach @(
        @{ Chunking = $true; Verb = 'BDAT' }, @{ Chunking = $false; Verb = 'DATA' }
    ) {
        $mock.Smtp.Chunking = $Chunking
        $log = Join-Path $TestDrive "many-$Verb.log"
        $to = 1..250 | ForEach-Object { "r$_@example.com" }
        $result = Send-SmtpMessage @smtp -To $to -Subject 'many' -TlsMode None -TranscriptPath $log

        $result.Accepted.Count | Should -Be 250
        # Commands are logged as they are queued and replies as they are read: a run of client
        # lines is what was written ahead of a read.
        $run = 0; $longest = 0
        foreach ($line in Get-Content $log) {
            if ($line -match ' C: ') { $run++; $longest = [Math]::Max($longest, $run) }
            elseif ($line -match ' S: ') { $run = 0 }
        }
        $longest | Should -BeGreaterThan 50
        $longest | Should -BeLessOrEqual 101
    }
}
