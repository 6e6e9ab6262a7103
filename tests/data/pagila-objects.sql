-- The rest of Pagila (PostgreSQL License; run after pagila-schema.sql): its 7 views, the
-- materialized view and its index, its functions and the group_concat aggregate, as published
-- (rewards_report shortened), plus one object of each kind Pagila lacks, so the inventory
-- tests see every kind: an extension, a composite and a range type, a procedure, an
-- exclusion constraint, GIN / partial / expression indexes, a deferrable foreign key, an
-- identity column, a generated column, a collation, a rule, a policy, comments, a grant, and
-- names that are PostgreSQL reserved words. Then more rows (every foreign key kept valid).

SET check_function_bodies = false;

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE FUNCTION public._group_concat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $_$
SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2 ELSE $1 || ', ' || $2 END
$_$;
CREATE AGGREGATE public.group_concat(text) (SFUNC = public._group_concat, STYPE = text);

CREATE FUNCTION public.inventory_in_stock(p_inventory_id integer) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_rentals INTEGER;
    v_out     INTEGER;
BEGIN
    SELECT count(*) INTO v_rentals FROM rental WHERE inventory_id = p_inventory_id;
    IF v_rentals = 0 THEN
      RETURN TRUE;
    END IF;
    SELECT COUNT(rental_id) INTO v_out FROM inventory LEFT JOIN rental USING(inventory_id)
    WHERE inventory.inventory_id = p_inventory_id AND rental.return_date IS NULL;
    IF v_out > 0 THEN
      RETURN FALSE;
    ELSE
      RETURN TRUE;
    END IF;
END $$;

CREATE FUNCTION public.film_in_stock(p_film_id integer, p_store_id integer, OUT p_film_count integer)
RETURNS SETOF integer LANGUAGE sql AS $_$
     SELECT inventory_id FROM inventory WHERE film_id = $1 AND store_id = $2 AND inventory_in_stock(inventory_id);
$_$;

CREATE FUNCTION public.film_not_in_stock(p_film_id integer, p_store_id integer, OUT p_film_count integer)
RETURNS SETOF integer LANGUAGE sql AS $_$
    SELECT inventory_id FROM inventory WHERE film_id = $1 AND store_id = $2 AND NOT inventory_in_stock(inventory_id);
$_$;

CREATE FUNCTION public.get_customer_balance(p_customer_id integer, p_effective_date timestamp with time zone)
RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    v_rentfees DECIMAL(5,2);
    v_overfees INTEGER;
    v_payments DECIMAL(5,2);
BEGIN
    SELECT COALESCE(SUM(film.rental_rate),0) INTO v_rentfees FROM film, inventory, rental
    WHERE film.film_id = inventory.film_id AND inventory.inventory_id = rental.inventory_id
      AND rental.rental_date <= p_effective_date AND rental.customer_id = p_customer_id;
    SELECT COALESCE(SUM(CASE WHEN (rental.return_date - rental.rental_date) > (film.rental_duration * '1 day'::interval)
        THEN extract(day FROM (rental.return_date - rental.rental_date) - (film.rental_duration * '1 day'::interval))
        ELSE 0 END), 0)
    INTO v_overfees FROM rental, inventory, film
    WHERE film.film_id = inventory.film_id AND inventory.inventory_id = rental.inventory_id
      AND rental.rental_date <= p_effective_date AND rental.customer_id = p_customer_id;
    SELECT COALESCE(SUM(payment.amount),0) INTO v_payments FROM payment
    WHERE payment.payment_date <= p_effective_date AND payment.customer_id = p_customer_id;
    RETURN v_rentfees + v_overfees - v_payments;
END $$;

CREATE FUNCTION public.inventory_held_by_customer(p_inventory_id integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_customer_id INTEGER;
BEGIN
  SELECT customer_id INTO v_customer_id FROM rental
  WHERE return_date IS NULL AND inventory_id = p_inventory_id;
  RETURN v_customer_id;
END $$;

CREATE FUNCTION public.last_day(timestamp with time zone) RETURNS date LANGUAGE sql IMMUTABLE STRICT AS $_$
  SELECT CASE
    WHEN EXTRACT(MONTH FROM $1) = 12 THEN (((EXTRACT(YEAR FROM $1) + 1) operator(pg_catalog.||) '-01-01')::date - INTERVAL '1 day')::date
    ELSE ((EXTRACT(YEAR FROM $1) operator(pg_catalog.||) '-' operator(pg_catalog.||) (EXTRACT(MONTH FROM $1) + 1) operator(pg_catalog.||) '-01')::date - INTERVAL '1 day')::date
    END
$_$;

CREATE FUNCTION public.rewards_report(min_monthly_purchases integer, min_dollar_amount_purchased numeric)
RETURNS SETOF public.customer LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    rr RECORD;
BEGIN
    IF min_monthly_purchases = 0 THEN
        RAISE EXCEPTION 'Minimum monthly purchases parameter must be > 0';
    END IF;
    FOR rr IN SELECT c.* FROM customer c WHERE c.customer_id IN (
        SELECT p.customer_id FROM payment p GROUP BY p.customer_id
        HAVING sum(p.amount) > min_dollar_amount_purchased AND count(*) > min_monthly_purchases) LOOP
        RETURN NEXT rr;
    END LOOP;
END $$;

CREATE VIEW public.actor_info AS
 SELECT a.actor_id, a.first_name, a.last_name,
    public.group_concat(DISTINCT (c.name || ': ') || (SELECT public.group_concat(f.title) FROM film f
        JOIN film_category fc_1 ON f.film_id = fc_1.film_id JOIN film_actor fa_1 ON f.film_id = fa_1.film_id
        WHERE fc_1.category_id = c.category_id AND fa_1.actor_id = a.actor_id GROUP BY fa_1.actor_id)) AS film_info
   FROM actor a LEFT JOIN film_actor fa ON a.actor_id = fa.actor_id
   LEFT JOIN film_category fc ON fa.film_id = fc.film_id LEFT JOIN category c ON fc.category_id = c.category_id
  GROUP BY a.actor_id, a.first_name, a.last_name;

CREATE VIEW public.customer_list AS
 SELECT cu.customer_id AS id, cu.first_name || ' ' || cu.last_name AS name, a.address,
    a.postal_code AS "zip code", a.phone, city.city, country.country,
    CASE WHEN cu.activebool THEN 'active' ELSE '' END AS notes, cu.store_id AS sid
   FROM customer cu JOIN address a ON cu.address_id = a.address_id JOIN city ON a.city_id = city.city_id
   JOIN country ON city.country_id = country.country_id;

CREATE VIEW public.film_list AS
 SELECT film.film_id AS fid, film.title, film.description, category.name AS category,
    film.rental_rate AS price, film.length, film.rating, public.group_concat(actor.first_name || ' ' ||
    actor.last_name) AS actors
   FROM category LEFT JOIN film_category ON category.category_id = film_category.category_id
   LEFT JOIN film ON film_category.film_id = film.film_id JOIN film_actor ON film.film_id = film_actor.film_id
   JOIN actor ON film_actor.actor_id = actor.actor_id
  GROUP BY film.film_id, film.title, film.description, category.name, film.rental_rate, film.length, film.rating;

CREATE VIEW public.nicer_but_slower_film_list AS
 SELECT film.film_id AS fid, film.title, film.description, category.name AS category,
    film.rental_rate AS price, film.length, film.rating,
    public.group_concat(upper(substr(actor.first_name, 1, 1)) || lower(substr(actor.first_name, 2)) || ' ' ||
    upper(substr(actor.last_name, 1, 1)) || lower(substr(actor.last_name, 2))) AS actors
   FROM category LEFT JOIN film_category ON category.category_id = film_category.category_id
   LEFT JOIN film ON film_category.film_id = film.film_id JOIN film_actor ON film.film_id = film_actor.film_id
   JOIN actor ON film_actor.actor_id = actor.actor_id
  GROUP BY film.film_id, film.title, film.description, category.name, film.rental_rate, film.length, film.rating;

CREATE VIEW public.sales_by_film_category AS
 SELECT c.name AS category, sum(p.amount) AS total_sales
   FROM payment p JOIN rental r ON p.rental_id = r.rental_id JOIN inventory i ON r.inventory_id = i.inventory_id
   JOIN film f ON i.film_id = f.film_id JOIN film_category fc ON f.film_id = fc.film_id
   JOIN category c ON fc.category_id = c.category_id
  GROUP BY c.name ORDER BY sum(p.amount) DESC;

CREATE VIEW public.sales_by_store AS
 SELECT c.city || ',' || cy.country AS store, m.first_name || ' ' || m.last_name AS manager,
    sum(p.amount) AS total_sales
   FROM payment p JOIN rental r ON p.rental_id = r.rental_id JOIN inventory i ON r.inventory_id = i.inventory_id
   JOIN store s ON i.store_id = s.store_id JOIN address a ON s.address_id = a.address_id
   JOIN city c ON a.city_id = c.city_id JOIN country cy ON c.country_id = cy.country_id
   JOIN staff m ON s.manager_staff_id = m.staff_id
  GROUP BY cy.country, c.city, s.store_id, m.first_name, m.last_name ORDER BY cy.country, c.city;

CREATE VIEW public.staff_list AS
 SELECT s.staff_id AS id, s.first_name || ' ' || s.last_name AS name, a.address, a.postal_code AS "zip code",
    a.phone, city.city, country.country, s.store_id AS sid
   FROM staff s JOIN address a ON s.address_id = a.address_id JOIN city ON a.city_id = city.city_id
   JOIN country ON city.country_id = country.country_id;

CREATE MATERIALIZED VIEW public.rental_by_category AS
 SELECT c.name AS category, sum(p.amount) AS total_sales
   FROM payment p JOIN rental r ON p.rental_id = r.rental_id JOIN inventory i ON r.inventory_id = i.inventory_id
   JOIN film f ON i.film_id = f.film_id JOIN film_category fc ON f.film_id = fc.film_id
   JOIN category c ON fc.category_id = c.category_id
  GROUP BY c.name ORDER BY sum(p.amount) DESC
  WITH NO DATA;
CREATE UNIQUE INDEX rental_category ON public.rental_by_category USING btree (category);

-- kinds Pagila lacks
CREATE TYPE public.film_summary AS (title text, rating public.mpaa_rating);
CREATE TYPE public.price_range AS RANGE (subtype = numeric);
CREATE SCHEMA ops;
CREATE TABLE ops.store_hours (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    store_id integer NOT NULL REFERENCES public.store (store_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    during tstzrange NOT NULL,
    label text COLLATE "C",
    prices public.price_range,
    hours numeric GENERATED ALWAYS AS (extract(epoch FROM upper(during) - lower(during)) / 3600) STORED,
    "verbose" boolean DEFAULT false NOT NULL,
    "binary" bytea,
    "freeze" integer CHECK ("freeze" >= 0),
    "authorization" text,
    CONSTRAINT store_hours_no_overlap EXCLUDE USING gist (store_id WITH =, during WITH &&)
);
CREATE PROCEDURE ops.close_store(p_store integer) LANGUAGE sql AS $$
    DELETE FROM ops.store_hours WHERE store_id = p_store
$$;
CREATE INDEX film_special_features_gin ON public.film USING gin (special_features);
CREATE INDEX idx_customer_active_last_name ON public.customer (last_name) WHERE active = 1;
CREATE INDEX idx_customer_lower_email ON public.customer (lower(email));
CREATE RULE store_hours_no_delete AS ON DELETE TO ops.store_hours WHERE old.label = 'permanent' DO INSTEAD NOTHING;
ALTER TABLE ops.store_hours ENABLE ROW LEVEL SECURITY;
CREATE POLICY store_hours_visible ON ops.store_hours FOR SELECT TO PUBLIC USING (store_id > 0);
-- as the published Pagila dump has them: a partition's own foreign key and index
ALTER TABLE public.payment_p2022_01 ADD CONSTRAINT payment_p2022_01_staff_id_fkey FOREIGN KEY (staff_id)
    REFERENCES public.staff (staff_id);
CREATE INDEX idx_fk_payment_p2022_01_staff_id ON public.payment_p2022_01 USING btree (staff_id);
COMMENT ON TABLE public.film IS 'Films in the catalogue';
COMMENT ON COLUMN public.film.fulltext IS 'Kept up to date by film_fulltext_trigger';
COMMENT ON VIEW public.film_list IS 'One row per film and category';
COMMENT ON FUNCTION public.last_day(timestamp with time zone) IS 'Last day of the month';
GRANT SELECT ON public.film_list TO PUBLIC;

-- more rows: 3 languages, 2 countries/cities/addresses, 2 actors/categories/films already; add some
INSERT INTO public.actor (first_name, last_name)
SELECT 'ACTOR' || g, 'NAME' || g FROM generate_series(3, 12) g;
INSERT INTO public.category (name) SELECT 'Category ' || g FROM generate_series(3, 6) g;
INSERT INTO public.film (title, description, release_year, language_id, rating, special_features, fulltext)
SELECT 'FILM ' || g, 'Description ' || g, 2000 + g % 20, 1 + g % 3,
       (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17'])[1 + g % 5]::public.mpaa_rating, '{Trailers}', ''
FROM generate_series(3, 20) g;
INSERT INTO public.film_actor (actor_id, film_id) SELECT 1 + g % 12, g FROM generate_series(3, 20) g;
INSERT INTO public.film_category (film_id, category_id) SELECT g, 1 + g % 6 FROM generate_series(3, 20) g;
INSERT INTO public.customer (store_id, first_name, last_name, email, address_id, active)
SELECT 1, 'FIRST' || g, 'LAST' || g, 'c' || g || '@example.com', 1 + g % 2, g % 2 FROM generate_series(2, 10) g;
INSERT INTO public.inventory (film_id, store_id) SELECT g, 1 FROM generate_series(3, 20) g;
INSERT INTO public.rental (rental_date, inventory_id, customer_id, staff_id, return_date)
SELECT timestamptz '2022-01-03 10:00+00' + g * interval '5 days', g, 1 + g % 10, 1,
       CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2022-01-06 10:00+00' + g * interval '5 days' END
FROM generate_series(3, 20) g;
INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
SELECT 1 + g % 10, 1, g, 0.99 + g, timestamptz '2022-01-04 10:00+00' + g * interval '5 days'
FROM generate_series(3, 20) g;
INSERT INTO ops.store_hours (store_id, during, label, prices, "verbose", "freeze")
VALUES (1, tstzrange('2022-01-01 09:00+00', '2022-01-01 17:00+00'), 'weekday', numrange(1, 5)::text::public.price_range,
        true, 1),
       (1, tstzrange('2022-01-02 10:00+00', '2022-01-02 14:00+00'), 'permanent', NULL, false, 0);
REFRESH MATERIALIZED VIEW public.rental_by_category;
