# The Python peers of the benchmarks: smtplib and poplib loops as a short script would write
# them. Called by bench/SmtpThroughput.ps1, bench/Pop3Throughput.ps1 and bench/RealServers.ps1;
# prints the best time of each kind, in seconds, as one JSON object.
#
#   python3 peers.py smtp HOST PORT USER PASSWORD COUNT RUNS KINDS
#       KINDS: a comma list of composed (EmailMessage and send_message) and text (sendmail with
#       prebuilt text); STARTTLS, and AUTH unless USER is -. Message n goes to
#       user<n>@example.com.
#   python3 peers.py pop3 HOST PORT USER PASSWORD COUNT RUNS FOLDER
#       STLS, USER/PASS, then kinds top (TOP n 0 loop), retr (RETR loop) and retrfiles (RETR loop
#       writing FOLDER/<run>/<n>.eml, no fsync); the mailbox must hold COUNT messages.
import json, os, poplib, smtplib, ssl, sys, time
from email.message import EmailMessage

context = ssl._create_unverified_context()


def smtp_peer(host, port, user, password, count, runs, kinds):
    def composed(smtp, n):
        msg = EmailMessage()
        msg['From'] = 'bench@example.com'
        msg['To'] = 'user%d@example.com' % n
        msg['Subject'] = 'Bench %d' % n
        msg.set_content('Message %d of %d' % (n, count))
        smtp.send_message(msg)

    def text(smtp, n):
        smtp.sendmail('bench@example.com', ['user%d@example.com' % n],
            'From: <bench@example.com>\r\nTo: <user%d@example.com>\r\nSubject: Bench %d\r\n\r\nMessage %d of %d\r\n' % (n, n, n, count))

    def session(send):
        start = time.perf_counter()
        with smtplib.SMTP(host, port) as smtp:
            smtp.starttls(context=context)
            if user != '-':
                smtp.login(user, password)
            for n in range(1, count + 1):
                send(smtp, n)
        return time.perf_counter() - start

    senders = {'composed': composed, 'text': text}
    return {kind: min(session(senders[kind]) for _ in range(runs)) for kind in kinds.split(',')}


def pop3_peer(host, port, user, password, count, runs, folder):
    def session(work):
        start = time.perf_counter()
        pop = poplib.POP3(host, port)
        pop.stls(context=context)
        pop.user(user)
        pop.pass_(password)
        if pop.stat()[0] != count:
            raise SystemExit('mailbox size differs')
        work(pop)
        pop.quit()
        return time.perf_counter() - start

    def top(pop):
        for n in range(1, count + 1):
            pop.top(n, 0)

    def retr(pop):
        for n in range(1, count + 1):
            pop.retr(n)

    def retr_files(pop, run=[0]):
        run[0] += 1
        target = os.path.join(folder, 'poplib%d' % run[0])
        os.makedirs(target)
        for n in range(1, count + 1):
            lines = pop.retr(n)[1]
            with open(os.path.join(target, '%d.eml' % n), 'wb') as f:
                f.write(b'\r\n'.join(lines) + b'\r\n')
        if len(os.listdir(target)) != count:
            raise SystemExit('files missing')

    return {name: min(session(work) for _ in range(runs)) for name, work in (('top', top), ('retr', retr), ('retrfiles', retr_files))}


if __name__ == '__main__':
    protocol, host, port, user, password, count, runs, last = sys.argv[1:9]
    peer = smtp_peer if protocol == 'smtp' else pop3_peer
    print(json.dumps(peer(host, int(port), user, password, int(count), int(runs), last)))
