; An agent-like program: it keeps notes in its sandboxed world, records what it
; learns as facts, and defines helpers as it goes.  Every definition, fact and
; file below becomes an event; `tape log` shows them, `tape state --at N` shows
; the world at any point.

(define (note! path text)
  ; append a line to a note file in the VM's own world
  (let ((old (if (file-exists? path) (read-file path) "")))
    (write-file! path (str old text "\n"))))

(define tasks '("read the brief" "list the suppliers" "compare prices" "write a summary"))

(define done (atom 0))

(define (work-on! task)
  (note! "journal.txt" (str "started: " task))
  (swap! done (lambda (n) (+ n 1)))
  (assert! (list 'task-done task))
  (println "done:" task))

(for-each work-on! tasks)

; what the agent learned, as facts it can query
(assert! '(supplier acme :price 120))
(assert! '(supplier globex :price 95))
(assert! '(supplier initech :price 140))

(define (cheapest)
  (let ((offers (facts '(supplier ?name :price ?price))))
    (reduce (lambda (best offer)
              (if (< (get offer '?price) (get best '?price)) offer best))
            (first offers)
            (rest offers))))

(define best (cheapest))
(note! "summary.txt" (format "cheapest supplier: {} at {}" (get best '?name) (get best '?price)))

; errors are values: this one is raised, caught and noted
(try
  (raise 'budget-exceeded "the budget is 100" {:limit 100})
  (catch e (note! "journal.txt" (str "caught: " (error-message e)))))

(println "tasks done:" (deref done))
(read-file "summary.txt")
